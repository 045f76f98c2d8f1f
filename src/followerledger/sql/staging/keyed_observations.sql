-- keyed_observations: every observation with the key of the account it belongs to.
-- Grain: one row per observation. A row the platform resolved keeps its account id; an
-- unresolved row (an import, a not-found handle) takes the id its handle maps to, else it is
-- keyed by the handle itself ('@handle'). Key: account_key = '<platform>:<id or @handle>'.
with observed as (
    select
        *,
        handle_key(platform, coalesce(requested_handle, handle)) as handle_key
    from observations
),

final as (
    select
        observed.* exclude (handle_key),
        coalesce(observed.account_id, identity_map.account_id) as resolved_account_id,
        observed.platform || ':'
            || coalesce(observed.account_id, identity_map.account_id, '@' || observed.handle_key)
            as account_key
    from observed
    left join identity_map
        on identity_map.platform = observed.platform
        and identity_map.handle_key = observed.handle_key
        and observed.account_id is null
)

select * from final
