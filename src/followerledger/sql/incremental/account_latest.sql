-- account_latest: the latest observation of each account as observed (before identity
-- resolution), the latest follower count it had and when it was first counted.
-- Grain: one row per (platform, raw_key), raw_key being the account id, else '@' and the
-- handle key. Incremental: previous rows merged with the new observations; ties broken by
-- run id so the result is deterministic.
with new_rows as (
    select
        platform,
        coalesce(account_id, '@' || handle_key(platform, coalesce(requested_handle, handle)))
            as raw_key,
        observed_at as first_seen,
        observed_at as last_seen,
        run_id as last_run_id,
        status as last_status,
        detail as last_detail,
        handle as last_handle,
        requested_handle as last_requested_handle,
        display_name as last_display_name,
        followers,
        following,
        posts,
        case when followers is not null then observed_at end as counted_at,
        case when followers is not null then run_id end as counted_run_id,
        case when followers is not null then observed_at end as first_counted_at
    from new_observations
),

combined as (
    select * from account_latest_previous
    union all by name
    select * from new_rows
),

final as (
    select
        platform,
        raw_key,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        arg_max_null(last_run_id, (last_seen, last_run_id)) as last_run_id,
        arg_max_null(last_status, (last_seen, last_run_id)) as last_status,
        arg_max_null(last_detail, (last_seen, last_run_id)) as last_detail,
        arg_max_null(last_handle, (last_seen, last_run_id)) as last_handle,
        arg_max_null(last_requested_handle, (last_seen, last_run_id)) as last_requested_handle,
        arg_max_null(last_display_name, (last_seen, last_run_id)) as last_display_name,
        arg_max_null(followers, (counted_at, counted_run_id)) filter (where counted_at is not null)
            as followers,
        arg_max_null(following, (counted_at, counted_run_id)) filter (where counted_at is not null)
            as following,
        arg_max_null(posts, (counted_at, counted_run_id)) filter (where counted_at is not null)
            as posts,
        max(counted_at) as counted_at,
        arg_max(counted_run_id, (counted_at, counted_run_id)) filter (where counted_at is not null)
            as counted_run_id,
        min(first_counted_at) as first_counted_at
    from combined
    group by platform, raw_key
)

select * from final
order by platform, raw_key
