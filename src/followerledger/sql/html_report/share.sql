-- share: each brand's share of its landscape's followers over every platform, per UTC day of
-- the report's window (from share_of_audience, platform 'all').
-- Grain: one row per (landscape, day, brand). Keys: landscape, day, brand.
-- brands_included below brands_expected: a brand had no count that day and is left out.
-- Parameters: $first_day and $last_day (inclusive).
with in_window as (
    select
        landscape,
        day,
        brand,
        followers,
        share_pct,
        landscape_followers,
        brands_included,
        brands_expected
    from share_of_audience
    where platform = 'all'
        and day between $first_day and $last_day
),

final as (
    select *
    from in_window
)

select * from final
order by landscape, day, brand
