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
        sum(quota_units) as quota_units,
        sum(x_estimated_cost_usd) as x_cost_usd,
        sum(accounts - ok) as uncounted,
        sum(error) as errors
    from in_window
    group by day
)

select * from final
order by day
