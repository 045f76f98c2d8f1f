-- unresolved_handles: handles with observations that carry no account id (imports,
-- never-resolved handles), and the UTC days those observations span. When such a handle
-- later resolves, refresh recomputes these days so the history joins its account.
-- Grain: one row per (platform, handle_key). Incremental like handle_sightings.
with new_unresolved as (
    select
        platform,
        handle_key(platform, coalesce(requested_handle, handle)) as handle_key,
        min(utc_day(observed_at)) as first_day,
        max(utc_day(observed_at)) as last_day
    from new_observations
    where account_id is null
    group by all
),

combined as (
    select platform, handle_key, first_day, last_day from unresolved_handles_previous
    union all
    select platform, handle_key, first_day, last_day from new_unresolved
),

final as (
    select platform, handle_key, min(first_day) as first_day, max(last_day) as last_day
    from combined
    group by platform, handle_key
)

select * from final
order by platform, handle_key
