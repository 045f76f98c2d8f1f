-- runs: each snapshot run per platform: when it ran, what it asked, found and spent.
-- Grain: one row per (run_id, platform), summing the run's shards (one run_log record each;
-- `shards` counts them). Keys: run_id, platform; `day` is the UTC day the run started.
-- X's estimated cost follows its pricing ($0.010 per user read, $x_cost_per_user_read here), deduplicated within a UTC day: the first run of the day to read a user pays for it.
-- Parameters: $start_day and $end_day (inclusive) bound the days computed.
with logged as (
    select
        run_id,
        platform,
        utc_day(min(started_at)) as day,
        min(started_at) as started_at,
        max(finished_at) as finished_at,
        cast(sum(requests) as bigint) as requests,
        cast(sum(quota_units) as bigint) as quota_units,
        cast(sum(accounts) as bigint) as accounts,
        cast(sum(ok) as bigint) as ok,
        cast(sum(not_found) as bigint) as not_found,
        cast(sum(suspended) as bigint) as suspended,
        cast(sum(deactivated) as bigint) as deactivated,
        cast(sum(protected) as bigint) as protected,
        cast(sum(hidden) as bigint) as hidden,
        cast(sum(error) as bigint) as error,
        count(*) as shards,
        -- 'api' when any shard read a real API ('api' sorts before 'emulator').
        min(source) as source
    from run_log
    group by run_id, platform
    having utc_day(min(started_at)) between $start_day and $end_day
),

x_reads as (
    -- Users X returned in a run (rows built from a returned user object).
    select run_id, account_id, observed_at, utc_day(observed_at) as read_day
    from observations
    where platform = 'x'
        and source <> 'import'
        and account_id is not null
        and status in ('ok', 'hidden', 'protected')
),

first_reads as (
    select read_day, account_id, arg_min(run_id, (observed_at, run_id)) as run_id
    from x_reads
    group by read_day, account_id
),

billed as (
    select run_id, count(*) as billed_reads
    from first_reads
    group by run_id
),

final as (
    select
        logged.day,
        logged.run_id,
        logged.platform,
        logged.started_at,
        logged.finished_at,
        round(epoch(logged.finished_at - logged.started_at), 3) as seconds,
        logged.requests,
        logged.quota_units,
        logged.accounts,
        logged.ok,
        logged.not_found,
        logged.suspended,
        logged.deactivated,
        logged.protected,
        logged.hidden,
        logged.error,
        logged.shards,
        case when logged.platform = 'x' then coalesce(billed.billed_reads, 0) end
            as x_billed_reads,
        case when logged.platform = 'x'
            then cast(coalesce(billed.billed_reads, 0) * $x_cost_per_user_read
                      as decimal(12, 3))
        end as x_estimated_cost_usd,
        logged.source
    from logged
    left join billed
        on billed.run_id = logged.run_id
        and logged.platform = 'x'
)

select * from final
order by day, started_at, run_id, platform
