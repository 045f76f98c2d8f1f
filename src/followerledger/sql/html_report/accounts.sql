-- accounts: every watched account as the report's table shows it: its latest status and
-- count, its 7- and 30-day change at that count, and its rank by followers over every
-- platform on the latest leaderboard, with the change since the day before.
-- Grain: one row per watched account_key. Keys: account_key. No parameters.
-- An account the latest run did not count keeps its status (not_found, suspended, hidden, …)
-- and its last count, if it ever had one; nothing is filled in.
with watched_counts as (
    select
        account_key,
        brand,
        platform,
        handle,
        display_name,
        status,
        detail,
        followers,
        counted_at,
        cast(timezone('UTC', counted_at) as date) as count_day
    from watched
),

latest_growth as (
    select
        growth.account_key,
        growth.change_7d,
        growth.pct_change_7d,
        growth.change_30d,
        growth.pct_change_30d
    from account_growth as growth
    join watched_counts
        on watched_counts.account_key = growth.account_key
        and growth.day = watched_counts.count_day
),

latest_board as (
    select max(day) as day
    from leaderboard
    where scope = 'all'
),

ranks as (
    select
        leaderboard.account_key,
        leaderboard.day as rank_day,
        leaderboard.rank_followers,
        leaderboard.rank_followers_change
    from leaderboard
    join latest_board on latest_board.day = leaderboard.day
    where leaderboard.scope = 'all'
),

final as (
    select
        watched_counts.* exclude (count_day),
        latest_growth.change_7d,
        latest_growth.pct_change_7d,
        latest_growth.change_30d,
        latest_growth.pct_change_30d,
        ranks.rank_day,
        ranks.rank_followers,
        ranks.rank_followers_change
    from watched_counts
    left join latest_growth on latest_growth.account_key = watched_counts.account_key
    left join ranks on ranks.account_key = watched_counts.account_key
)

select * from final
order by brand, platform, lower(handle), account_key
