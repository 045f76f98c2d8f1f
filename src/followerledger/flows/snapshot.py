"""Snapshot flow: one run of the watchlist. It only orchestrates: what runs concurrently
(`tasks/snapshot.py`), how platforms share their rate budgets, what is logged and reported."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

from followerledger import landing, run_plan, stopping
from followerledger.flows import as_is, failed
from followerledger.run_outcome import CountedNothing, counted_nothing, partly_counted
from followerledger.run_summary import RunSummary, summarize_run
from followerledger.sources.prefect_budgets import budgets_for_run
from followerledger.tasks import reporting
from followerledger.tasks import snapshot as tasks
from followerledger.tasks.warehouse import publish_catalog

# Every platform's batches at once: each client caps its own (FOLLOWERLEDGER_FETCH_CONCURRENCY).
_RUNNER: Any = ThreadPoolTaskRunner(max_workers=16)
_ALERT: list[Any] = [reporting.alert_failed_run]


@flow(name="snapshot", task_runner=_RUNNER, on_failure=_ALERT, on_crashed=_ALERT)
def snapshot_flow(platforms: list[str] | None = None, run_id: str | None = None) -> RunSummary:
    """Snapshot every watched account (of the given platforms) once, and land the rows.
    Ends Failed (`CountedNothing`), after its rows landed and it reported, when a platform's
    every account got `error` (`run_outcome`)."""
    logger = get_run_logger()
    stopping.begin()
    budgets = budgets_for_run(logger)
    run = run_plan.start_run(platforms, run_id, throttle_for=budgets, logger=logger)
    settings, watchlist, layout, lake = run.settings, run.watchlist, run.layout, run.lake
    run_id, started_at, sources = run.run_id, run.started_at, run.sources
    plan = run_plan.plan_run(watchlist, sources, tasks.load_identities(layout), settings)
    for line in plan.lines:
        logger.info("%s", line)
    tasks.reserve_budgets(budgets, plan.requests)
    records = []
    # Round-robin, so no platform's queue holds the others back; rows land as batches arrive.
    with landing.landings(lake, plan.batches, run_id, started_at) as landings:
        futures = [
            tasks.fetch_batch.submit(sources[platform], batch, run_id, as_is(landings[platform]))
            for platform, batch in run_plan.interleave(plan.batches)
        ]
        for future in futures:
            future.result()
        for name, landed in landings.items():
            source = sources[name]
            records.append(landed.record(source.usage(), datetime.now(UTC), source.credential))
            tasks.write_observations(as_is(landed))
            tasks.write_run_record(as_is(lake), records[-1])
            logger.info("%s: %s in %d requests", name, records[-1].statuses, records[-1].requests)
    publish_catalog(layout, as_is(watchlist))
    costs = tasks.price_run(layout, run_id, started_at)
    details = {name: landed.error_detail for name, landed in landings.items()}
    result = summarize_run(run_id, started_at, records, costs, details)
    # The run's artifacts and alerts, then its verdict (docs/operations.md, "Exit codes"):
    # keep them last.
    changes = reporting.read_account_changes(layout, as_is(watchlist), run_id)
    reporting.publish_run_artifacts(result, as_is(changes), layout.report_uri)
    reporting.send_alerts(settings, as_is(watchlist), as_is(changes))
    for line in partly_counted(result.platforms):
        logger.warning("%s", line)
    if counted_nothing(result.platforms):
        return failed(CountedNothing(result), RunSummary)
    return result


if __name__ == "__main__":
    snapshot_flow()
