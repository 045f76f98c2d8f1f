-- brand_daily: each brand's total followers per UTC day, per platform and across platforms.
-- Grain: one row per (brand, platform, day); platform 'all' is the total over every platform.
-- Keys: brand, platform, day.
-- A row exists on the days at least one of the brand's accounts (on that platform, for a
-- platform row) has a count. Each watched account stands in with its latest count at or
-- before the day (an ASOF join on daily_followers), if that count is at most $staleness_days
-- days old; otherwise it is left out and named in missing_accounts. accounts_included out of
-- accounts_expected (the brand's accounts in the watchlist) shows how complete a total is.
-- Parameters: $start_day and $end_day (inclusive) bound the days computed; $staleness_days.
with members as (
    select
        brand,
        platform,
        account_key,
        min(platform || ':' || watched_handle) as watched_as
    from watched_accounts
    group by brand, platform, account_key
),

counts as (
    select day, account_key, followers
    from daily_followers
    where day between $start_day - cast($staleness_days as integer) and $end_day
),

brand_days as (
    select distinct members.brand, counts.day
    from counts
    join members on members.account_key = counts.account_key
    where counts.day between $start_day and $end_day
),

probes as (
    select
        brand_days.brand,
        brand_days.day,
        members.platform,
        members.account_key,
        members.watched_as
    from brand_days
    join members on members.brand = brand_days.brand
),

standing as (
    select
        probes.*,
        case
            when counts.day >= probes.day - cast($staleness_days as integer) then counts.day
        end as count_day,
        case
            when counts.day >= probes.day - cast($staleness_days as integer)
                then counts.followers
        end as followers
    from probes
    asof left join counts
        on counts.account_key = probes.account_key
        and counts.day <= probes.day
),

totals as (
    select
        day,
        brand,
        case when grouping(platform) = 1 then 'all' else platform end as platform,
        cast(sum(followers) as bigint) as followers,
        count(followers) as accounts_included,
        count(*) as accounts_expected,
        min(count_day) as oldest_count_day,
        list(watched_as order by watched_as) filter (where followers is null)
            as missing_accounts
    from standing
    group by grouping sets ((day, brand, platform), (day, brand))
    -- a platform's row only on the days that platform has a count of the brand's
    having grouping(platform) = 1 or bool_or(count_day = day)
),

final as (
    select
        * exclude (missing_accounts),
        coalesce(missing_accounts, []) as missing_accounts
    from totals
)

select * from final
order by day, brand, platform
