-- coverage: per account and UTC day, how many snapshot runs were expected to count it and how
-- many did. Grain: one row per (account_key, day), for every day the account has an
-- observation (from a snapshot run or an import). Keys: account_key, day.
-- runs_expected: the distinct snapshot runs (source other than 'import') with rows on the
-- account's platform that day, when at least one of them watched the account (every run
-- writes one row per watched account); 0 on a day it was only imported. runs_observed: runs
-- with a row for it; runs_ok: runs that counted it (status 'ok'); runs_missing: expected but
-- not counted. statuses: the other statuses its rows had that day. A day no run reached at
-- all has no row here: see the gaps view.
-- Parameters: $start_day and $end_day (inclusive) bound the days computed.
with observed as (
    select
        *,
        utc_day(observed_at) as day
    from keyed_observations
),

in_range as (
    select *
    from observed
    where day between $start_day and $end_day
),

platform_runs as (
    select platform, day, count(distinct run_id) as runs
    from in_range
    where source <> 'import'
    group by platform, day
),

per_account as (
    select
        day,
        platform,
        account_key,
        arg_max(handle, observed_at) as handle,
        count(distinct run_id) filter (where source <> 'import') as runs_observed,
        count(distinct run_id) filter (where source <> 'import' and status = 'ok') as runs_ok,
        list_sort(list_distinct(
            list(status) filter (where source <> 'import' and status <> 'ok')
        )) as statuses,
        count(*) filter (where source = 'import') as imported
    from in_range
    group by day, platform, account_key
),

expected as (
    select
        per_account.*,
        case when per_account.runs_observed > 0 then platform_runs.runs else 0 end
            as runs_expected
    from per_account
    left join platform_runs
        on platform_runs.platform = per_account.platform
        and platform_runs.day = per_account.day
),

final as (
    select
        day,
        platform,
        account_key,
        handle,
        runs_expected,
        runs_observed,
        runs_ok,
        runs_expected - runs_ok as runs_missing,
        coalesce(statuses, []) as statuses,
        imported
    from expected
)

select * from final
order by day, account_key
