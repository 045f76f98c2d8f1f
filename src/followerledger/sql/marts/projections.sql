-- projections: for each counted account, its next round follower milestone and when it should
-- reach it at its recent pace. Grain: one row per account_key (accounts with a count).
-- Keys: account_key.
-- Milestones: 1k, 5k, 10k, 50k, 100k, 500k, 1M, 5M, … The trend is a Theil–Sen slope (the
-- median of the slopes between every two counts) over the account's daily counts of the 28
-- days up to its latest count, after taking out the jumps of the days flagged in anomalies.
-- A slope's run is the time between the two observations (observed_at), not calendar days.
-- No projection (no_projection_reason says why) with under 14 days of history (first to
-- latest count), a latest count more than $staleness_days days older than the warehouse's
-- latest (no trend is computed then), under 7 counts in the window, a flat or falling
-- trend, or a date beyond 5 years.
-- Parameters: $staleness_days.
with latest as (
    select
        account_key,
        platform,
        handle,
        brand,
        followers,
        counted_at,
        utc_day(counted_at) as last_day,
        utc_day(counted_at) - utc_day(first_counted_at) as history_days
    from accounts
    where counted_at is not null
),

freshest as (
    select max(last_day) as last_day
    from latest
),

judged_fresh as (
    select
        latest.*,
        latest.last_day < freshest.last_day - cast($staleness_days as integer) as stale
    from latest
    cross join freshest
),

recent_counts as (
    select
        account_growth.account_key,
        account_growth.day,
        account_growth.followers,
        epoch(account_growth.observed_at) / 86400 as at_days
    from account_growth
    join judged_fresh as latest on latest.account_key = account_growth.account_key
    where account_growth.day > latest.last_day - 28
        and account_growth.day <= latest.last_day
        and not latest.stale
        -- so only the last weeks of the warehouse are ever read
        and account_growth.day
            > (select last_day from freshest) - 28 - cast($staleness_days as integer)
),

recent_jumps as (
    select anomalies.account_key, anomalies.day, anomalies.excess_change
    from anomalies
    semi join recent_counts
        on recent_counts.account_key = anomalies.account_key
        and recent_counts.day = anomalies.day
),

-- Each count less the excess of the anomalous jumps up to it: a purge or a bought burst no
-- longer bends the slope (a constant offset does not change slopes).
adjusted_counts as (
    select
        recent_counts.account_key,
        recent_counts.day,
        recent_counts.at_days,
        recent_counts.followers - coalesce(sum(recent_jumps.excess_change), 0) as level
    from recent_counts
    left join recent_jumps
        on recent_jumps.account_key = recent_counts.account_key
        and recent_jumps.day <= recent_counts.day
    group by
        recent_counts.account_key,
        recent_counts.day,
        recent_counts.at_days,
        recent_counts.followers
),

pair_slopes as (
    select
        earlier.account_key,
        (later.level - earlier.level) / (later.at_days - earlier.at_days) as slope
    from adjusted_counts as earlier
    join adjusted_counts as later
        on later.account_key = earlier.account_key
        and later.day > earlier.day
),

trends as (
    select account_key, median(slope) as trend_per_day
    from pair_slopes
    group by account_key
),

trend_counts as (
    select account_key, count(*) as trend_counts
    from adjusted_counts
    group by account_key
),

milestones as (
    select multiple * cast(10 ** exponent as bigint) as milestone
    from range(3, 16) as powers(exponent)
    cross join (select unnest([1, 5]) as multiple)
),

next_milestones as (
    select latest.account_key, min(milestones.milestone) as next_milestone
    from latest
    join milestones on milestones.milestone > latest.followers
    group by latest.account_key
),

estimated as (
    select
        latest.*,
        next_milestones.next_milestone,
        trends.trend_per_day,
        coalesce(trend_counts.trend_counts, 0) as trend_counts,
        case
            when trends.trend_per_day > 0
                then (next_milestones.next_milestone - latest.followers) / trends.trend_per_day
        end as days_needed,
        cast(latest.last_day + interval 5 year as date) - latest.last_day as horizon_days
    from judged_fresh as latest
    left join next_milestones on next_milestones.account_key = latest.account_key
    left join trends on trends.account_key = latest.account_key
    left join trend_counts on trend_counts.account_key = latest.account_key
),

judged as (
    select
        *,
        case
            when history_days < 14 then 'under 14 days of history'
            when stale then 'no recent count'
            when trend_counts < 7 then 'under 7 counts in the last 28 days'
            when trend_per_day <= 0 then 'flat or falling trend'
            when days_needed > horizon_days then 'beyond 5 years'
        end as no_projection_reason
    from estimated
),

final as (
    select
        account_key,
        platform,
        brand,
        handle,
        followers,
        counted_at,
        history_days,
        trend_per_day,
        trend_counts,
        next_milestone,
        case when no_projection_reason is null then days_needed end as days_to_milestone,
        case
            when no_projection_reason is null
                then utc_day(counted_at + to_seconds(days_needed * 86400))
        end as milestone_date,
        no_projection_reason
    from judged
)

select * from final
order by account_key
