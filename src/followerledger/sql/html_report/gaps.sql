-- gaps: the stretches without a follower count that touch the report's window, for watched
-- accounts, ongoing ones first, then the longest (from the gaps view).
-- Grain: one row per (account_key, first_day). Keys: account_key, first_day.
-- Parameters: $first_day and $last_day (inclusive).
with final as (
    select
        gaps.account_key,
        gaps.brand,
        gaps.platform,
        gaps.handle,
        gaps.first_day,
        gaps.last_day,
        gaps.days,
        gaps.runs_expected,
        gaps.statuses,
        gaps.ongoing
    from gaps
    semi join watched on watched.account_key = gaps.account_key
    where gaps.last_day >= $first_day
        and gaps.first_day <= $last_day
)

select * from final
order by ongoing desc, days desc, brand, platform, lower(handle), first_day
