-- account_growth: each account's followers per UTC day and its change over 1, 7, 30 and 90 days.
-- Grain: one row per (account_key, day), for every day daily_followers has a count.
-- Keys: account_key, day.
-- Window of N days: the baseline is the last count at or before the end of day D - N (an ASOF
-- join on daily_followers), accepted if its day is at most max(N, 7) days before that boundary
-- (whole UTC days, not elapsed time); without one, the window's columns are null. elapsed_days_Nd is the exact time between the two
-- observations; change_per_day_Nd the change divided by it; pct_change_Nd the change per day
-- times N against the baseline count: the growth of a period of exactly N days relative to
-- where the account stood at its start (the close of the previous period of equal length).
-- Parameters: $start_day and $end_day (inclusive) bound the days computed.
with counts as (
    select day, platform, account_key, handle, followers, observed_at
    from daily_followers
    where day between $start_day - 180 and $end_day
),

current_counts as (
    select *
    from counts
    where day between $start_day and $end_day
),

windows as (
    select unnest([1, 7, 30, 90]) as window_days
),

probes as (
    select
        current_counts.account_key,
        current_counts.day,
        current_counts.followers,
        current_counts.observed_at,
        windows.window_days,
        current_counts.day - windows.window_days as boundary
    from current_counts
    cross join windows
),

baselines as (
    select
        probes.*,
        counts.day as baseline_day,
        counts.followers as baseline_followers,
        counts.observed_at as baseline_observed_at
    from probes
    asof left join counts
        on counts.account_key = probes.account_key
        and counts.day <= probes.boundary
),

measured as (
    select
        account_key,
        day,
        window_days,
        baseline_followers as baseline,
        epoch(observed_at - baseline_observed_at) / 86400 as elapsed_days,
        followers - baseline_followers as change
    from baselines
    where baseline_day >= boundary - greatest(window_days, 7)
),

rated as (
    select
        *,
        change / elapsed_days as change_per_day,
        100.0 * (change / elapsed_days) * window_days / nullif(baseline, 0) as pct_change
    from measured
),

pivoted as (
    select
        account_key,
        day,
        any_value(baseline) filter (where window_days = 1) as baseline_1d,
        any_value(elapsed_days) filter (where window_days = 1) as elapsed_days_1d,
        any_value(change) filter (where window_days = 1) as change_1d,
        any_value(change_per_day) filter (where window_days = 1) as change_per_day_1d,
        any_value(pct_change) filter (where window_days = 1) as pct_change_1d,
        any_value(baseline) filter (where window_days = 7) as baseline_7d,
        any_value(elapsed_days) filter (where window_days = 7) as elapsed_days_7d,
        any_value(change) filter (where window_days = 7) as change_7d,
        any_value(change_per_day) filter (where window_days = 7) as change_per_day_7d,
        any_value(pct_change) filter (where window_days = 7) as pct_change_7d,
        any_value(baseline) filter (where window_days = 30) as baseline_30d,
        any_value(elapsed_days) filter (where window_days = 30) as elapsed_days_30d,
        any_value(change) filter (where window_days = 30) as change_30d,
        any_value(change_per_day) filter (where window_days = 30) as change_per_day_30d,
        any_value(pct_change) filter (where window_days = 30) as pct_change_30d,
        any_value(baseline) filter (where window_days = 90) as baseline_90d,
        any_value(elapsed_days) filter (where window_days = 90) as elapsed_days_90d,
        any_value(change) filter (where window_days = 90) as change_90d,
        any_value(change_per_day) filter (where window_days = 90) as change_per_day_90d,
        any_value(pct_change) filter (where window_days = 90) as pct_change_90d
    from rated
    group by account_key, day
),

final as (
    select
        current_counts.day,
        current_counts.platform,
        current_counts.account_key,
        current_counts.handle,
        current_counts.followers,
        current_counts.observed_at,
        pivoted.* exclude (account_key, day)
    from current_counts
    left join pivoted
        on pivoted.account_key = current_counts.account_key
        and pivoted.day = current_counts.day
)

select * from final
order by day, account_key
