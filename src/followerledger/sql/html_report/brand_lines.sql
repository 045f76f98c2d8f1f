-- brand_lines: each brand's followers per UTC day of the report's window, over every platform
-- ('all') and per platform, and how complete each total is (from brand_daily).
-- Grain: one row per (brand, platform, day). Keys: brand, platform, day.
-- A day without a row is a day nothing of the brand was counted: the chart shows a gap.
-- Parameters: $first_day and $last_day (inclusive).
with in_window as (
    select day, brand, platform, followers, accounts_included, accounts_expected, missing_accounts
    from brand_daily
    where day between $first_day and $last_day
),

final as (
    select *
    from in_window
)

select * from final
order by brand, platform <> 'all', platform, day
