-- handle_sightings: every handle an account was seen under: as the platform reported it
-- ('reported') and as the watchlist asked for it ('requested'), with first and last sighting.
-- Grain: one row per (platform, account_id, handle_key, seen_as). Incremental: the previous
-- rows merged with the new observations (min/max/arg_max only, so re-reading a file is harmless).
with new_sightings as (
    -- Only rows built from a profile the platform returned carry a handle it reported.
    select platform, account_id, handle, 'reported' as seen_as, observed_at
    from new_observations
    where account_id is not null and status in ('ok', 'hidden', 'protected')

    union all

    select platform, account_id, requested_handle as handle, 'requested' as seen_as, observed_at
    from new_observations
    where account_id is not null and requested_handle is not null
),

new_spans as (
    select
        platform,
        account_id,
        handle_key(platform, handle) as handle_key,
        seen_as,
        arg_max(handle, observed_at) as handle,
        min(observed_at) as first_seen,
        max(observed_at) as last_seen
    from new_sightings
    group by all
),

combined as (
    select platform, account_id, handle_key, seen_as, handle, first_seen, last_seen
    from handle_sightings_previous

    union all

    select platform, account_id, handle_key, seen_as, handle, first_seen, last_seen
    from new_spans
),

final as (
    select
        platform,
        account_id,
        handle_key,
        seen_as,
        arg_max(handle, last_seen) as handle,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen
    from combined
    group by platform, account_id, handle_key, seen_as
)

select * from final
order by platform, account_id, seen_as, first_seen, handle_key
