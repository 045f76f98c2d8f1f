-- account_changes: each watched account in this run, next to what came before it.
-- Grain: one row per watchlist entry. Keys: platform, handle_key (the watched handle).
-- Unordered: `run_changes.py` names it `account_changes` (a CTE, not materialized), which
-- run_changes.sql reduces to what a run reports (or which is read whole, in order).
-- Reads `observations` (the lake's recent files) and `watchlist`. Parameters: $since (the
-- oldest observation read) and $run_id (this run). Unknown values are NULL.
with recent as (
    select
        platform,
        handle_key(platform, coalesce(requested_handle, handle)) as handle_key,
        run_id,
        observed_at,
        status,
        detail,
        followers
    from observations
    where observed_at >= $since
),

this_run as (
    select platform, handle_key, status, detail, followers, observed_at
    from recent
    where run_id = $run_id
    qualify row_number() over (
        partition by platform, handle_key order by observed_at desc
    ) = 1
),

earlier_counts as (
    select
        recent.platform,
        recent.handle_key,
        arg_max(recent.followers, recent.observed_at) as previous_followers,
        max(recent.observed_at) as previous_at
    from recent
    join this_run using (platform, handle_key)
    where recent.followers is not null
        and recent.run_id <> $run_id
        and recent.observed_at < this_run.observed_at
    group by recent.platform, recent.handle_key
),

prior_day_counts as (
    select
        recent.platform,
        recent.handle_key,
        arg_max(recent.followers, recent.observed_at) as prior_day_followers
    from recent
    join this_run using (platform, handle_key)
    where recent.followers is not null
        and utc_day(recent.observed_at) = utc_day(this_run.observed_at) - 1
    group by recent.platform, recent.handle_key
),

activity as (
    select
        platform,
        handle_key,
        max(observed_at) filter (where followers is not null) as last_count_at,
        min(observed_at) as first_seen_at
    from recent
    group by platform, handle_key
),

final as (
    select
        watchlist.brand,
        watchlist.platform,
        watchlist.handle,
        this_run.status,
        this_run.detail,
        this_run.followers,
        this_run.observed_at,
        earlier_counts.previous_followers,
        earlier_counts.previous_at,
        prior_day_counts.prior_day_followers,
        activity.last_count_at,
        activity.first_seen_at
    from watchlist
    left join this_run using (platform, handle_key)
    left join earlier_counts using (platform, handle_key)
    left join prior_day_counts using (platform, handle_key)
    left join activity using (platform, handle_key)
)

select * from final
