-- run_changes: what a run's artifacts and alerts need of `account_changes`, and no more,
-- so that only these rows reach Python however large the watchlist.
-- Grain: one row per (part, watchlist entry); `part` is
--   'mover'     the $movers accounts whose count moved most since its previous count
--               (largest first; ties by platform, then handle, as RunChanges.of),
--   'uncounted' the first $uncounted accounts of this run without a count (by platform,
--               handle),
--   'alerting'  every account an alert rule may concern (alerts.evaluate decides): a
--               milestone of $milestones crossed, a drop of about $drop_percent or more
--               since the previous UTC day, no count since about $stale_late (and seen by
--               then), or counted again since $stale_before while its key
--               ('<platform>:<handle key>') is in $stale_keys (the stale spells alerted).
-- The bounds are loose on purpose (a hair below the drop threshold, stale by a later
-- moment): alerts.evaluate applies the exact rules with its own clock.
-- Nothing is materialized: each part recomputes `account_changes` as a stream, which keeps
-- DuckDB's memory bounded (duckdb_sql.RUN_MEMORY_LIMIT) however large the watchlist.
with changes as not materialized (
    select
        *,
        followers - previous_followers as change
    from account_changes
),

movers as (
    select 'mover' as part, * exclude (change)
    from changes
    where change <> 0
    order by abs(change) desc, platform, handle
    limit $movers
),

uncounted as (
    select 'uncounted' as part, * exclude (change)
    from changes
    where status is not null and followers is null
    order by platform, handle
    limit $uncounted
),

alerting as (
    select 'alerting' as part, * exclude (change)
    from changes
    where (
        previous_followers is not null and followers is not null
        and len(list_filter($milestones, lambda m: previous_followers < m and m <= followers)) > 0
    ) or (
        $drop_percent is not null and followers is not null and observed_at is not null
        and prior_day_followers <> 0
        and 100.0::double * (prior_day_followers - followers) / prior_day_followers
        > $drop_percent - 1e-6
    ) or (
        $stale_late is not null
        and coalesce(last_count_at < $stale_late, true)
        and first_seen_at <= $stale_late
    ) or (
        $stale_before is not null
        and last_count_at >= $stale_before
        and list_contains($stale_keys, platform || ':' || handle_key(platform, handle))
    )
)

select * from movers
union all
select * from uncounted
union all
select * from alerting
