-- share_of_audience: each brand's share of its landscape's followers per UTC day, per platform
-- and across platforms ('all'), from brand_daily.
-- Grain: one row per (landscape, platform, day, brand). Keys: landscape, platform, day, brand.
-- The landscape's total is over the brands with a brand_daily row that day (brands_included
-- out of brands_expected: the landscape's brands watched on that platform). share_pct is the
-- brand's percent of that total; competitor_average the mean of the other included brands;
-- landscape_average the mean of all included brands.
-- Parameters: $start_day and $end_day (inclusive) bound the days computed.
with brand_platforms as (
    select distinct brand, platform
    from watched_accounts
    union
    select distinct brand, 'all' as platform
    from watched_accounts
),

expected as (
    select
        landscapes.landscape,
        brand_platforms.platform,
        count(distinct landscapes.brand) as brands_expected
    from landscapes
    join brand_platforms on brand_platforms.brand = landscapes.brand
    group by all
),

totals as (
    select
        brand_daily.day,
        landscapes.landscape,
        brand_daily.platform,
        brand_daily.brand,
        brand_daily.followers,
        brand_daily.accounts_included,
        brand_daily.accounts_expected
    from brand_daily
    join landscapes on landscapes.brand = brand_daily.brand
    where brand_daily.day between $start_day and $end_day
),

final as (
    select
        totals.day,
        totals.landscape,
        totals.platform,
        totals.brand,
        totals.followers,
        100.0 * totals.followers / nullif(sum(totals.followers) over landscape_day, 0)
            as share_pct,
        (sum(totals.followers) over landscape_day - totals.followers)
            / nullif(count(*) over landscape_day - 1, 0) as competitor_average,
        avg(totals.followers) over landscape_day as landscape_average,
        cast(sum(totals.followers) over landscape_day as bigint) as landscape_followers,
        count(*) over landscape_day as brands_included,
        expected.brands_expected,
        totals.accounts_included,
        totals.accounts_expected
    from totals
    join expected
        on expected.landscape = totals.landscape
        and expected.platform = totals.platform
    window landscape_day as (partition by totals.landscape, totals.platform, totals.day)
)

select * from final
order by day, landscape, platform, brand
