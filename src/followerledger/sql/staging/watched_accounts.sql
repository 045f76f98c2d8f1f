-- watched_accounts: every watchlist entry with the account it stands for now.
-- Grain: one row per watchlist entry (brand, platform, handle_key). An entry whose handle
-- never resolved is keyed by the handle ('<platform>:@<handle_key>'), like its observations.
with entries as (
    select brand, platform, handle, handle_key
    from watchlist
),

final as (
    select
        entries.brand,
        entries.platform,
        entries.handle as watched_handle,
        entries.handle_key,
        entries.platform || ':'
            || coalesce(identity_map.account_id, '@' || entries.handle_key) as account_key
    from entries
    left join identity_map
        on identity_map.platform = entries.platform
        and identity_map.handle_key = entries.handle_key
)

select * from final
