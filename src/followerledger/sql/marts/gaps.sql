-- gaps (a view, computed when queried): stretches of UTC days on which an account has no
-- follower count, between the first and the last day it has any observation.
-- Grain: one row per (account_key, first_day). Keys: account_key, first_day.
-- runs_expected sums coverage over the stretch: 0 means no snapshot run reached the account
-- (the collector did not run, or the account was not watched then); statuses lists what the
-- runs saw instead of a count (e.g. suspended, not_found, error). ongoing: the stretch runs
-- to the account's last observed day (no count since).
with count_days as (
    select account_key, day
    from daily_followers
),

observed_days as (
    select account_key, day from count_days
    union
    select account_key, day from coverage
),

spans as (
    select account_key, min(day) as first_day, max(day) as last_day
    from observed_days
    group by account_key
),

marks as (
    select account_key, day from count_days
    union
    select account_key, first_day - 1 as day from spans
    union
    select account_key, last_day + 1 as day from spans
),

following_marks as (
    select
        account_key,
        day,
        lead(day) over (partition by account_key order by day) as next_day
    from marks
),

stretches as (
    select account_key, day + 1 as first_day, next_day - 1 as last_day
    from following_marks
    where next_day - day > 1
),

summarised as (
    select
        stretches.account_key,
        stretches.first_day,
        stretches.last_day,
        coalesce(sum(coverage.runs_expected), 0) as runs_expected,
        coalesce(sum(coverage.runs_observed), 0) as runs_observed,
        list_sort(list_distinct(flatten(list(coverage.statuses)))) as statuses
    from stretches
    left join coverage
        on coverage.account_key = stretches.account_key
        and coverage.day between stretches.first_day and stretches.last_day
    group by all
),

final as (
    select
        summarised.account_key,
        accounts.platform,
        accounts.brand,
        accounts.handle,
        summarised.first_day,
        summarised.last_day,
        summarised.last_day - summarised.first_day + 1 as days,
        summarised.runs_expected,
        summarised.runs_observed,
        coalesce(summarised.statuses, []) as statuses,
        summarised.last_day = spans.last_day as ongoing
    from summarised
    join spans on spans.account_key = summarised.account_key
    left join accounts on accounts.account_key = summarised.account_key
)

select * from final
order by account_key, first_day
