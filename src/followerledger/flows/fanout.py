"""The fanned-out hourly deployment's flow: one run of the `snapshot-shard` deployment per
shard, on the work pool's workers (`fanout.ShardRuns`), then the run's tail once, one
refresh and the report, as `flows/hourly.py` does for a run in one process."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger, tags
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.runtime import flow_run

from followerledger import fanout, run_plan, stopping
from followerledger.flows import failed
from followerledger.flows.hourly import written_report
from followerledger.flows.refresh import refresh_flow
from followerledger.flows.snapshot import finish_run
from followerledger.run_summary import RunSummary
from followerledger.tasks.reporting import alert_failed_run


@flow(name="snapshot-fanout", on_failure=[alert_failed_run], on_crashed=[alert_failed_run])
def fanout_flow(platforms: list[str] | None = None, shards: int | str | None = None) -> Any:
    """Snapshot the watchlist as `shards` runs of the shard deployment (None:
    `FOLLOWERLEDGER_SHARDS`), resubmitting a shard whose run crashed or went silent; then
    catalog, costs, changes, artifacts, alerts and verdict (`finish_run`), a refresh and the
    report. Fails with one line naming the shard that did not complete."""
    logger = get_run_logger()
    stopping.begin()
    run = run_plan.start_run(platforms, None)
    plan = fanout.plan_fanout(
        run_plan.shard_count(run, shards), platforms, run.run_id, run.started_at
    )
    try:
        with get_client(sync_client=True) as client:
            fanout.ShardRuns(
                plan,
                client,
                fanout.submit_to_pool,
                stale_after=timedelta(seconds=run.settings.crash_after_seconds),
                tags=flow_run.tags,
                say=logger.info,
            ).run()
    except fanout.ShardFailed as error:
        return failed(error, dict)
    snapshot: RunSummary | State = finish_run(run, logger)
    # The subflow carries this run's tags, so the crash automations watch it too.
    with tags(*flow_run.tags):
        refreshed = refresh_flow()
    report = written_report()
    if isinstance(snapshot, State):
        # A platform counted nothing (`CountedNothing`): its rows landed and the marts and
        # report show them; the run still failed.
        return snapshot
    return {"snapshot": snapshot, "refresh": refreshed, "report": report}


if __name__ == "__main__":
    fanout_flow()
