-- leaderboard: accounts ranked per UTC day by followers and by 7- and 30-day growth, on each
-- platform and overall, with the change in rank since the previous day's board.
-- Grain: one row per (scope, day, account_key); scope is a platform, or 'all' for every
-- platform together. Keys: scope, day, account_key.
-- A board exists on the days its scope has a count. Each account stands on it with its latest
-- account_growth row at most $staleness_days days old (count_day says which). Growth ranks
-- order by pct_change_7d / pct_change_30d (percent growth normalised to the window, so big
-- and small accounts compare); an account without that growth has no growth rank. Ranks are
-- rank(): 1 is the top, ties share a rank and the next ranks are skipped (1, 1, 3). Every
-- counted account stands, watched or not (brand null then). Rank changes are the previous
-- calendar day's rank minus today's (positive: climbed), null when that day has no board or
-- the account was not on it.
-- Parameters: $start_day and $end_day (inclusive) bound the days computed; $staleness_days.
with members as (
    select account_key, min(brand) as brand
    from watched_accounts
    group by account_key
),

growth as (
    select
        day,
        platform,
        account_key,
        handle,
        followers,
        change_7d,
        pct_change_7d,
        change_30d,
        pct_change_30d
    from account_growth
    where day between $start_day - 1 - cast($staleness_days as integer) and $end_day
),

board_days as (
    select distinct day
    from growth
    where day between $start_day - 1 and $end_day
),

standing as (
    select
        board_days.day,
        growth.day as count_day,
        growth.* exclude (day)
    from board_days
    join growth
        on growth.day between board_days.day - cast($staleness_days as integer)
        and board_days.day
    qualify row_number() over (
        partition by board_days.day, growth.account_key
        order by growth.day desc
    ) = 1
),

platform_days as (
    select distinct platform, day
    from growth
),

scoped as (
    select standing.platform as scope, standing.*
    from standing
    semi join platform_days
        on platform_days.platform = standing.platform
        and platform_days.day = standing.day
    union all
    select 'all' as scope, standing.*
    from standing
),

ranked as (
    select
        *,
        rank() over (partition by scope, day order by followers desc) as rank_followers,
        case
            when pct_change_7d is not null then rank() over (
                partition by scope, day, pct_change_7d is null order by pct_change_7d desc
            )
        end as rank_growth_7d,
        case
            when pct_change_30d is not null then rank() over (
                partition by scope, day, pct_change_30d is null order by pct_change_30d desc
            )
        end as rank_growth_30d
    from scoped
),

final as (
    select
        ranked.day,
        ranked.scope,
        ranked.account_key,
        ranked.platform,
        members.brand,
        ranked.handle,
        ranked.count_day,
        ranked.followers,
        ranked.change_7d,
        ranked.pct_change_7d,
        ranked.change_30d,
        ranked.pct_change_30d,
        ranked.rank_followers,
        ranked.rank_growth_7d,
        ranked.rank_growth_30d,
        previous.rank_followers - ranked.rank_followers as rank_followers_change,
        previous.rank_growth_7d - ranked.rank_growth_7d as rank_growth_7d_change,
        previous.rank_growth_30d - ranked.rank_growth_30d as rank_growth_30d_change
    from ranked
    left join ranked as previous
        on previous.scope = ranked.scope
        and previous.account_key = ranked.account_key
        and previous.day = ranked.day - 1
    left join members on members.account_key = ranked.account_key
    where ranked.day between $start_day and $end_day
)

select * from final
order by day, scope, rank_followers, account_key
