-- coverage: the coverage heat map's cells (watched account × UTC day of the report's window),
-- as stretches of consecutive days of one kind.
-- Grain: one row per (account_key, first_day). Keys: account_key, first_day.
-- Kinds: 'counted' (a count, and no run of the day missed it), 'partial' (a count, but some
-- runs of the day did not give one), 'uncounted' (runs reached the account but none gave a
-- count: they saw a status, see gaps), 'no_run' (no run reached it, between its first and
-- last observed day). Days before an account's first or after its last observation have no
-- row. From coverage and daily_followers. Parameters: $first_day and $last_day (inclusive).
with observed_spans as (
    select
        coverage.account_key,
        greatest(min(coverage.day), $first_day) as first_day,
        least(max(coverage.day), $last_day) as last_day
    from coverage
    semi join watched on watched.account_key = coverage.account_key
    group by coverage.account_key
),

span_days as (
    select
        account_key,
        cast(unnest(generate_series(first_day, last_day, interval 1 day)) as date) as day
    from observed_spans
    where first_day <= last_day
),

window_coverage as (
    select account_key, day, runs_missing
    from coverage
    where day between $first_day and $last_day
),

window_counts as (
    select account_key, day
    from daily_followers
    where day between $first_day and $last_day
),

classified as (
    select
        span_days.account_key,
        span_days.day,
        case
            when window_counts.day is not null and coalesce(window_coverage.runs_missing, 0) = 0
                then 'counted'
            when window_counts.day is not null then 'partial'
            when window_coverage.day is not null then 'uncounted'
            else 'no_run'
        end as kind
    from span_days
    left join window_coverage
        on window_coverage.account_key = span_days.account_key
        and window_coverage.day = span_days.day
    left join window_counts
        on window_counts.account_key = span_days.account_key
        and window_counts.day = span_days.day
),

islands as (
    select
        account_key,
        kind,
        day,
        day - cast(row_number() over (partition by account_key, kind order by day) as integer)
            as island
    from classified
),

final as (
    select account_key, kind, min(day) as first_day, max(day) as last_day, count(*) as days
    from islands
    group by account_key, kind, island
)

select * from final
order by account_key, first_day
