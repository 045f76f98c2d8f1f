-- identity_map: the account each handle stands for, by its most recent sighting.
-- Grain: one row per (platform, handle_key). Built from handle_sightings, so a handle that
-- was requested from the watchlist or reported by the platform both resolve.
with sightings as (
    select platform, handle_key, account_id, last_seen
    from handle_sightings
),

final as (
    select
        platform,
        handle_key,
        arg_max(account_id, (last_seen, account_id)) as account_id
    from sightings
    group by platform, handle_key
)

select * from final
