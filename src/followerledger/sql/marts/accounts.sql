-- accounts: one row per account: its current handle, brand, first and last sighting, latest
-- status and latest follower count, its first count, and the handles it had (rename
-- history, oldest first: account_handles, imported handles included).
-- The current handle is the most recently seen in account_handles, else the latest
-- observation's (a handle never found), else as watched.
-- Grain: one row per account_key. Watched accounts never observed yet appear with null dates.
-- Keys: account_key (unique); (platform, account_id) for resolved accounts.
with latest as (
    select
        account_latest.*,
        case when raw_key like '@%' then substr(raw_key, 2) end as unresolved_handle_key
    from account_latest
),

keyed as (
    select
        latest.*,
        latest.platform || ':' || coalesce(identity_map.account_id, latest.raw_key)
            as account_key,
        coalesce(
            case when latest.unresolved_handle_key is null then latest.raw_key end,
            identity_map.account_id
        ) as account_id
    from latest
    left join identity_map
        on identity_map.platform = latest.platform
        and identity_map.handle_key = latest.unresolved_handle_key
),

merged as (
    select
        account_key,
        any_value(platform) as platform,
        max(account_id) as account_id,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        arg_max_null(last_status, (last_seen, last_run_id)) as status,
        arg_max_null(last_detail, (last_seen, last_run_id)) as detail,
        arg_max_null(last_handle, (last_seen, last_run_id)) as last_handle,
        arg_max_null(last_display_name, (last_seen, last_run_id)) as display_name,
        arg_max_null(followers, (counted_at, counted_run_id))
            filter (where counted_at is not null) as followers,
        max(counted_at) as counted_at,
        min(first_counted_at) as first_counted_at
    from keyed
    group by account_key
),

reported_handles as (
    select
        account_key,
        arg_max(handle, (last_seen, handle)) as current_handle,
        list(
            {'handle': handle, 'first_seen': first_seen, 'last_seen': last_seen}
            order by first_seen, handle
        ) as handles
    from account_handles
    group by account_key
),

watched as (
    select
        account_key,
        any_value(platform) as platform,
        min(brand) as brand,
        min(watched_handle) as watched_handle
    from watched_accounts
    group by account_key
),

final as (
    select
        coalesce(merged.account_key, watched.account_key) as account_key,
        coalesce(merged.platform, watched.platform) as platform,
        merged.account_id,
        coalesce(reported_handles.current_handle, merged.last_handle,
                 watched.watched_handle) as handle,
        merged.display_name,
        watched.brand,
        watched.watched_handle,
        watched.account_key is not null as in_watchlist,
        merged.status,
        merged.detail,
        merged.followers,
        merged.counted_at,
        merged.first_counted_at,
        merged.first_seen,
        merged.last_seen,
        coalesce(reported_handles.handles, []) as handles
    from merged
    full outer join watched on watched.account_key = merged.account_key
    left join reported_handles
        on reported_handles.account_key = coalesce(merged.account_key,
                                                   watched.account_key)
)

select * from final
order by platform, brand nulls last, handle
