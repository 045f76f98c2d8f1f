"""The fanned-out hourly deployment's flow: one run of the `snapshot-shard` deployment per
shard, on the work pool's workers (`fanout.ShardRuns`), then the run's tail once, one
refresh and the report, as `flows/hourly.py` does for a run in one process."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger, tags
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run

from followerledger import fanout, stopping
from followerledger.flows import failed
from followerledger.flows.hourly import written_report
from followerledger.flows.refresh import refresh_flow
from followerledger.run_outcome import CountedNothing
from followerledger.settings import load_settings
from followerledger.tasks.reporting import alert_failed_run
from followerledger.watchlist import load_watchlist


@flow(name="snapshot-fanout", on_failure=[alert_failed_run], on_crashed=[alert_failed_run])
def fanout_flow(platforms: list[str] | None = None, shards: int | str | None = None) -> Any:
    """Snapshot the watchlist as `shards` runs of the shard deployment (None:
    `FOLLOWERLEDGER_SHARDS`), resubmitting a shard whose run crashed or went silent; then
    catalog, costs, changes, artifacts, alerts and verdict (`finish_run`), a refresh and the
    report. Fails with one line naming the shard that did not complete."""
    logger = get_run_logger()
    stopping.begin()
    settings = load_settings()
    accounts = len(load_watchlist(settings.watchlist).accounts)
    try:
        count = fanout.shard_count(
            shards if shards is not None else getattr(settings, "shards", None), accounts
        )
        plan = fanout.plan_fanout(count, platforms)
        with get_client(sync_client=True) as client:
            runs = fanout.ShardRuns(
                plan,
                client,
                fanout.submit_to_pool,
                stale_after=timedelta(seconds=settings.crash_after_seconds),
                tags=flow_run.tags,
                say=logger.info,
            )
            runs.run()
    except fanout.ShardFailed as error:
        return failed(error, dict)
    # i15-core's tail, shared with the one-process flow.
    from followerledger.flows.snapshot import finish_run  # type: ignore[attr-defined]

    # The subflows carry this run's tags, so the crash automations watch them too.
    with tags(*flow_run.tags):
        snapshot = finish_run(plan.run_id, plan.started_at, platforms)
        refreshed = refresh_flow()
    report = written_report()
    if isinstance(snapshot, CountedNothing):
        return failed(snapshot, dict)
    return {"snapshot": snapshot, "refresh": refreshed, "report": report}


if __name__ == "__main__":
    fanout_flow()
