-- account_handles (published): the handles each account was reported under, with dates:
-- the rename history. Grain: one row per (account_key, handle). Keys: account_key, handle.
-- Two sources: the handles the platform reported with the account's id (handle_sightings),
-- and the handles of rows without an id (imports by handle: unresolved_sightings), keyed as
-- keyed_observations keys them: the id their handle maps to in identity_map, else '@handle'.
-- A handle of both is one row: its earliest and latest sighting, its latest spelling.
with reported as (
    select
        platform || ':' || account_id as account_key,
        platform,
        account_id,
        handle_key,
        handle,
        first_seen,
        last_seen
    from handle_sightings
    where seen_as = 'reported'
),

unresolved as (
    select
        unresolved_sightings.platform || ':'
            || coalesce(identity_map.account_id, '@' || unresolved_sightings.handle_key)
            as account_key,
        unresolved_sightings.platform,
        identity_map.account_id,
        handle_key(unresolved_sightings.platform, unresolved_sightings.handle) as handle_key,
        unresolved_sightings.handle,
        unresolved_sightings.first_seen,
        unresolved_sightings.last_seen
    from unresolved_sightings
    left join identity_map
        on identity_map.platform = unresolved_sightings.platform
        and identity_map.handle_key = unresolved_sightings.handle_key
),

sightings as (
    select * from reported
    union all
    select * from unresolved
),

final as (
    select
        account_key,
        any_value(platform) as platform,
        max(account_id) as account_id,
        arg_max(handle, (last_seen, handle)) as handle,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen
    from sightings
    group by account_key, handle_key
)

select * from final
order by account_key, first_seen, handle
