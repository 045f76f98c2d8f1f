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

-- Everything before this run, in one pass over the recent rows (one hash table, not one
-- per measure: DuckDB's memory then grows less with the watchlist).
per_account as (
    select
        recent.platform,
        recent.handle_key,
        arg_max(recent.followers, recent.observed_at) filter (
            where recent.followers is not null
                and recent.run_id <> $run_id
                and recent.observed_at < this_run.observed_at
        ) as previous_followers,
        max(recent.observed_at) filter (
            where recent.followers is not null
                and recent.run_id <> $run_id
                and recent.observed_at < this_run.observed_at
        ) as previous_at,
        arg_max(recent.followers, recent.observed_at) filter (
            where recent.followers is not null
                and utc_day(recent.observed_at) = utc_day(this_run.observed_at) - 1
        ) as prior_day_followers,
        max(recent.observed_at) filter (where recent.followers is not null) as last_count_at,
        min(recent.observed_at) as first_seen_at
    from recent
    left join this_run using (platform, handle_key)
    group by recent.platform, recent.handle_key
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
        per_account.previous_followers,
        per_account.previous_at,
        per_account.prior_day_followers,
        per_account.last_count_at,
        per_account.first_seen_at
    from watchlist
    left join this_run using (platform, handle_key)
    left join per_account using (platform, handle_key)
)

select * from final
