-- run_credentials: what each credential of a snapshot run fetched and spent.
-- Grain: one row per (run_id, platform, credential): the run's shards that used a credential
-- summed (a run spreads its shards over a platform's credentials). Keys: run_id, platform,
-- credential. `credential` is the label the run log names (`X_BEARER_TOKEN`,
-- `X_BEARER_TOKENS[2]`, a Secret block's name; never a value), '(none)' for a platform that
-- takes no credential and for records landed before runs named theirs. `day` is the UTC day
-- the run started (as in `runs`). X's billed reads and estimated cost are `runs`' (the first
-- run of a UTC day to read a user pays for it), charged to the credential of the shard whose
-- row read the user.
-- Parameters: $start_day and $end_day (inclusive) bound the days computed.
with run_days as (
    select run_id, platform, utc_day(min(started_at)) as day
    from run_log
    group by run_id, platform
    having utc_day(min(started_at)) between $start_day and $end_day
),

logged as (
    select
        run_days.day,
        run_log.run_id,
        run_log.platform,
        run_log.shard,
        coalesce(run_log.credential, '(none)') as credential,
        run_log.started_at,
        run_log.finished_at,
        run_log.requests,
        run_log.quota_units,
        run_log.accounts,
        run_log.ok,
        run_log.error
    from run_log
    inner join run_days
        on run_days.run_id = run_log.run_id
        and run_days.platform = run_log.platform
),

x_reads as (
    -- Users X returned in a run (rows built from a returned user object), by shard.
    select run_id, shard, account_id, observed_at, utc_day(observed_at) as read_day
    from observations
    where platform = 'x'
        and source <> 'import'
        and account_id is not null
        and status in ('ok', 'hidden', 'protected')
),

first_reads as (
    -- A struct, so that a null shard (a run before shards) is kept as the first reader's.
    select
        read_day,
        account_id,
        arg_min({'run_id': run_id, 'shard': shard}, (observed_at, run_id)) as reader
    from x_reads
    group by read_day, account_id
),

billed_shards as (
    select reader.run_id as run_id, reader.shard as shard, count(*) as billed_reads
    from first_reads
    group by all
),

billed as (
    select logged.run_id, logged.credential, sum(billed_shards.billed_reads) as billed_reads
    from logged
    inner join billed_shards
        on billed_shards.run_id = logged.run_id
        and billed_shards.shard is not distinct from logged.shard
    where logged.platform = 'x'
    group by all
),

per_credential as (
    select
        day,
        run_id,
        platform,
        credential,
        min(started_at) as started_at,
        max(finished_at) as finished_at,
        count(*) as shards,
        cast(sum(requests) as bigint) as requests,
        cast(sum(quota_units) as bigint) as quota_units,
        cast(sum(accounts) as bigint) as accounts,
        cast(sum(ok) as bigint) as ok,
        cast(sum(error) as bigint) as error
    from logged
    group by day, run_id, platform, credential
),

final as (
    select
        per_credential.day,
        per_credential.run_id,
        per_credential.platform,
        per_credential.credential,
        per_credential.started_at,
        per_credential.finished_at,
        per_credential.shards,
        per_credential.requests,
        per_credential.quota_units,
        per_credential.accounts,
        per_credential.ok,
        per_credential.error,
        case when per_credential.platform = 'x'
            then cast(coalesce(billed.billed_reads, 0) as bigint)
        end as x_billed_reads,
        case when per_credential.platform = 'x'
            then cast(coalesce(billed.billed_reads, 0) * $x_cost_per_user_read
                      as decimal(12, 3))
        end as x_estimated_cost_usd
    from per_credential
    left join billed
        on billed.run_id = per_credential.run_id
        and billed.credential = per_credential.credential
        and per_credential.platform = 'x'
)

select * from final
order by day, started_at, run_id, platform, credential
