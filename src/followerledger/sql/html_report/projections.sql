-- projections: each watched, counted account's next milestone and its estimated date, or why
-- there is none (from projections: its guards, in no_projection_reason).
-- Grain: one row per account_key. Keys: account_key. No parameters.
with final as (
    select
        projections.account_key,
        projections.brand,
        projections.platform,
        projections.handle,
        projections.followers,
        projections.counted_at,
        projections.history_days,
        projections.trend_per_day,
        projections.trend_counts,
        projections.next_milestone,
        projections.days_to_milestone,
        projections.milestone_date,
        projections.no_projection_reason
    from projections
    semi join watched on watched.account_key = projections.account_key
)

select * from final
order by milestone_date nulls last, no_projection_reason, brand, platform, lower(handle)
