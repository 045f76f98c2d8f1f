-- overview: the report's headline figures: the last day with a count, the watched accounts
-- and how many of them the latest run counted, brands, landscapes and the last run.
-- Grain: one row. No parameters.
with counted as (
    select max(day) as last_day
    from daily_followers
),

watched_totals as (
    select
        count(*) as accounts,
        count(*) filter (where status = 'ok') as accounts_counted,
        count(distinct brand) as brands,
        max(counted_at) as latest_count_at
    from watched
),

competitive_sets as (
    select count(distinct landscape) as landscapes
    from landscapes
),

last_run as (
    select max(started_at) as last_run_at
    from runs
),

final as (
    select *
    from counted, watched_totals, competitive_sets, last_run
)

select * from final
