-- sparklines: each watched account's follower count per UTC day of the report's window
-- (from daily_followers; a day without a count has no row, and the sparkline a gap).
-- Grain: one row per (account_key, day). Keys: account_key, day.
-- Parameters: $first_day and $last_day (inclusive).
with final as (
    select daily.account_key, daily.day, daily.followers
    from daily_followers as daily
    semi join watched on watched.account_key = daily.account_key
    where daily.day between $first_day and $last_day
)

select * from final
order by account_key, day
