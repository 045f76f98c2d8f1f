-- run_days: snapshot runs per UTC day of the report's window: how many, their requests, quota
-- units and cost, and how many account rows had no count (errors among them) (from runs).
-- Grain: one row per day with a run. Keys: day.
-- Parameters: $first_day and $last_day (inclusive).
with in_window as (
    select *
    from runs
    where day between $first_day and $last_day
),

final as (
    select
        day,
        count(distinct run_id) as runs,
        sum(requests) as requests,
        -- YouTube's quota units only: the report names them so; other platforms' units
        -- (Meta's Graph calls, Threads lookups) are in the runs relation, per platform.
        sum(quota_units) filter (where platform = 'youtube') as quota_units,
        sum(x_estimated_cost_usd) as x_cost_usd,
        sum(accounts - ok) as uncounted,
        sum(error) as errors
    from in_window
    group by day
)

select * from final
order by day
