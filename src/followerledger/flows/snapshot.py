"""Snapshot flow: one run of the watchlist, as shards (`shards.py`), one `snapshot_shard`
task each; then the run's tail (`finish_run`). It only orchestrates: what runs
concurrently, how shards share the rate budgets, what is logged and reported."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

from followerledger import run_plan, stopping
from followerledger.flows import as_is, failed
from followerledger.run_log import combined
from followerledger.run_outcome import CountedNothing, counted_nothing, partly_counted
from followerledger.run_summary import RunSummary, several_credentials, summarize_run
from followerledger.sources.http import Logger
from followerledger.sources.prefect_budgets import budgets_for_run
from followerledger.tasks import reporting
from followerledger.tasks import snapshot as tasks
from followerledger.tasks.warehouse import publish_catalog

# Shards at once: each shard's clients cap their own requests (FOLLOWERLEDGER_FETCH_CONCURRENCY).
_RUNNER: Any = ThreadPoolTaskRunner(max_workers=8)
_ALERT: list[Any] = [reporting.alert_failed_run]


@flow(name="snapshot", task_runner=_RUNNER, on_failure=_ALERT, on_crashed=_ALERT)
def snapshot_flow(
    platforms: list[str] | None = None,
    run_id: str | None = None,
    shards: int | str | None = None,
    shard: int | None = None,
    started_at: datetime | None = None,
) -> RunSummary | run_plan.ShardResult:
    """Snapshot every watched account (of the given platforms) once, in `shards` shards
    (None: FOLLOWERLEDGER_SHARDS), and land the rows; returns the `RunSummary`. With `shard`,
    only that shard (a worker's part of a fanned-out run, whose parent gives `run_id` and
    `started_at` and does the tail): returns its `run_plan.ShardResult`. Ends Failed
    (`CountedNothing`), after its rows landed and it reported, when a platform's every
    account got `error` (`run_outcome`)."""
    logger = get_run_logger()
    stopping.begin()
    budgets = budgets_for_run(logger)
    run = run_plan.start_run(platforms, run_id, started_at=started_at)
    specs = run_plan.shard_specs(run, shards, shard)
    identities = tasks.load_identities(run.layout)
    if shard is not None:
        return tasks.snapshot_shard(as_is(run), specs[0], as_is(budgets), as_is(identities))
    tasks.run_shards(run, specs, budgets, identities)
    return finish_run(run, logger)


def finish_run(run: run_plan.StartedRun, logger: Logger) -> RunSummary:
    """The tail of a run, once every shard landed (in this flow run, or on workers): its
    records read back from the lake's run log, the catalog, costs, summary, run changes,
    artifacts, alerts, then the verdict (docs/operations.md, "Exit codes"): keep it last."""
    shard_records, details = run_plan.read_landed(run)
    for record in combined(shard_records):
        logger.info("%s: %s in %d requests", record.platform, record.statuses, record.requests)
    publish_catalog(run.layout, as_is(run.watchlist))
    priced = (run.layout, run.run_id, run.started_at)
    costs = tasks.price_run(*priced)
    several = several_credentials(shard_records)  # else no per-credential breakdown to price
    by_credential = tasks.price_credentials(*priced) if several else {}
    result = summarize_run(run.run_id, run.started_at, shard_records, costs, details, by_credential)
    changes = reporting.read_account_changes(run.layout, as_is(run.watchlist), run.run_id)
    reporting.publish_run_artifacts(result, as_is(changes), run.layout.report_uri)
    reporting.send_alerts(run.settings, as_is(run.watchlist), as_is(changes))
    for line in partly_counted(result.platforms):
        logger.warning("%s", line)
    if counted_nothing(result.platforms):
        return failed(CountedNothing(result), RunSummary)
    return result


if __name__ == "__main__":
    snapshot_flow()
