-- anomalies: days on which an account's follower change was far from its own recent normal.
-- Grain: one row per (account_key, day) flagged. Keys: account_key, day.
-- The change of day D is account_growth's 1-day change (since the count of the latest day
-- from D - 8 to D - 1). Its baseline is the median and the MAD (median absolute deviation) of
-- the same account's changes per day on the days D - 28 to D - 1, needing at least 7 of them.
-- The expected change is the median times the days elapsed; excess_change is the rest.
-- score = excess_change / (max(1.4826 * MAD, 1) * max(1, sqrt(days elapsed))): 1.4826 * MAD
-- estimates a day's standard deviation, never under 1 follower a day (a steady account's MAD
-- is 0); the spread of a change over k days grows as sqrt(k), so a change over three days may
-- stray further than a one-day change, and a part-day change is not magnified.
-- |score| >= 5 is flagged: a spike when positive, else a drop.
-- A change whose span (D - ceil(days elapsed) to D) overlaps a known platform-wide correction
-- on its platform (platform_events) names it in platform_event (the first name if several):
-- such a drop is the platform's doing, not the account's loss.
-- Parameters: $start_day and $end_day (inclusive) bound the days computed.
with changes as (
    select
        day,
        platform,
        account_key,
        handle,
        followers,
        baseline_1d as previous_followers,
        change_1d as change,
        elapsed_days_1d as elapsed_days,
        change_per_day_1d as change_per_day
    from account_growth
    where day between $start_day - 28 and $end_day
        and change_per_day_1d is not null
),

baselines as (
    select
        *,
        median(change_per_day) over recent as baseline_median,
        mad(change_per_day) over recent as baseline_mad,
        count(*) over recent as baseline_changes
    from changes
    window recent as (
        partition by account_key
        order by day
        range between 28 preceding and 1 preceding
    )
),

expected as (
    select
        *,
        change - baseline_median * elapsed_days as excess_change
    from baselines
    where day between $start_day and $end_day
        and baseline_changes >= 7
),

scored as (
    select
        *,
        excess_change
            / (greatest(1.4826 * baseline_mad, 1.0) * greatest(1.0, sqrt(elapsed_days)))
            as score
    from expected
),

flagged as (
    select
        *,
        case when score > 0 then 'spike' else 'drop' end as direction,
        day - cast(ceil(elapsed_days) as integer) as span_start
    from scored
    where abs(score) >= 5
),

explained as (
    select
        flagged.account_key,
        flagged.day,
        min(platform_events.name) as platform_event
    from flagged
    join platform_events
        on platform_events.platform = flagged.platform
        and platform_events.first_day <= flagged.day
        and platform_events.last_day >= flagged.span_start
    group by all
),

final as (
    select
        flagged.day,
        flagged.platform,
        flagged.account_key,
        flagged.handle,
        flagged.direction,
        flagged.followers,
        flagged.previous_followers,
        flagged.change,
        flagged.elapsed_days,
        flagged.change_per_day,
        flagged.baseline_median,
        flagged.baseline_mad,
        flagged.baseline_changes,
        flagged.excess_change,
        flagged.score,
        explained.platform_event
    from flagged
    left join explained
        on explained.account_key = flagged.account_key
        and explained.day = flagged.day
)

select * from final
order by day, account_key
