-- anomalies: the flagged changes of the report's window, with the brand of their account and
-- the platform-wide correction that explains them, if any (from anomalies and accounts).
-- Grain: one row per (account_key, day). Keys: account_key, day.
-- Parameters: $first_day and $last_day (inclusive).
with flagged as (
    select
        day,
        platform,
        account_key,
        handle,
        direction,
        previous_followers,
        followers,
        change,
        elapsed_days,
        score,
        platform_event
    from anomalies
    where day between $first_day and $last_day
),

final as (
    select flagged.*, watched.brand
    from flagged
    join watched on watched.account_key = flagged.account_key
)

select * from final
order by brand, day, platform, handle
