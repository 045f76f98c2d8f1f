-- daily_followers: each account's last observed follower count of each UTC day.
-- Grain: one row per (account_key, day). Keys: account_key, day.
-- A day without a count (no run, or only not-found/suspended/error rows) has no row: nothing
-- is carried forward or zero-filled. `samples` counts the day's observations with a count.
-- Parameters: $start_day and $end_day (inclusive) bound the days computed.
with counted as (
    select
        *,
        utc_day(observed_at) as day
    from keyed_observations
    where followers is not null
),

in_range as (
    select *
    from counted
    where day between $start_day and $end_day
),

final as (
    select
        day,
        platform,
        account_key,
        resolved_account_id as account_id,
        handle,
        followers,
        following,
        posts,
        observed_at,
        source,
        run_id,
        count(*) over (partition by account_key, day) as samples
    from in_range
    qualify row_number() over (
        partition by account_key, day
        order by observed_at desc, run_id desc, requested_handle desc nulls last
    ) = 1
)

select * from final
order by day, account_key
