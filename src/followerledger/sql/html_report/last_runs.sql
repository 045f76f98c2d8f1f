-- last_runs: the latest snapshot runs, all platforms of a run together: what they found,
-- asked and cost (from runs).
-- Grain: one row per run_id. Keys: run_id. Parameters: $runs (how many of the latest).
with per_run as (
    select
        run_id,
        min(started_at) as started_at,
        max(finished_at) as finished_at,
        string_agg(platform, ', ' order by platform) as platforms,
        sum(accounts) as accounts,
        sum(ok) as ok,
        sum(not_found) as not_found,
        sum(suspended) as suspended,
        sum(hidden) as hidden,
        sum(deactivated + protected) as other_statuses,
        sum(error) as errors,
        sum(requests) as requests,
        -- YouTube's quota units only: the report names them so; other platforms' units
        -- (Meta's Graph calls, Threads lookups) are in the runs relation, per platform.
        sum(quota_units) filter (where platform = 'youtube') as quota_units,
        sum(x_estimated_cost_usd) as x_cost_usd
    from runs
    group by run_id
),

final as (
    select *, epoch(finished_at - started_at) as seconds
    from per_run
)

select * from final
order by started_at desc, run_id desc
limit $runs
