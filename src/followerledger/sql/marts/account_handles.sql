-- account_handles (published): the handles each account was reported under, with dates:
-- the rename history. Grain: one row per (account_key, handle). Keys: account_key, handle.
with reported as (
    select *
    from handle_sightings
    where seen_as = 'reported'
),

final as (
    select
        platform || ':' || account_id as account_key,
        platform,
        account_id,
        handle,
        first_seen,
        last_seen
    from reported
)

select * from final
order by account_key, first_seen, handle
