-- unresolved_sightings: every handle an account was seen under before it had an id: rows
-- with a count or a profile (imports by handle) that carry no account id, with first and last
-- sighting. The marts key them like keyed_observations (the id their handle maps to in
-- identity_map, else '@handle'), so an account imported by handle keeps its handle history.
-- Grain: one row per (platform, handle_key), handle_key being the handle the row was
-- requested as (as in keyed_observations). Incremental like handle_sightings.
with new_sightings as (
    -- As for a 'reported' handle_sighting: a not-found handle was never an account's handle.
    select
        platform,
        handle_key(platform, coalesce(requested_handle, handle)) as handle_key,
        handle,
        observed_at
    from new_observations
    where account_id is null and status in ('ok', 'hidden', 'protected')
),

new_spans as (
    select
        platform,
        handle_key,
        arg_max(handle, (observed_at, handle)) as handle,
        min(observed_at) as first_seen,
        max(observed_at) as last_seen
    from new_sightings
    group by platform, handle_key
),

combined as (
    select platform, handle_key, handle, first_seen, last_seen
    from unresolved_sightings_previous

    union all

    select platform, handle_key, handle, first_seen, last_seen
    from new_spans
),

final as (
    select
        platform,
        handle_key,
        arg_max(handle, (last_seen, handle)) as handle,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen
    from combined
    group by platform, handle_key
)

select * from final
order by platform, handle_key
