"""The hourly deployment's flow: one snapshot run, an incremental refresh, then the report."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, tags
from prefect.runtime import flow_run

from followerledger.flows import failed
from followerledger.flows.refresh import refresh_flow
from followerledger.flows.snapshot import snapshot_flow
from followerledger.run_outcome import CountedNothing
from followerledger.settings import load_settings
from followerledger.tasks import reporting
from followerledger.tasks.reporting import alert_failed_run


@flow(name="snapshot-and-refresh", on_failure=[alert_failed_run], on_crashed=[alert_failed_run])
def snapshot_and_refresh_flow(platforms: list[str] | None = None) -> dict[str, Any]:
    """Snapshot the watchlist (a subflow, with its artifacts), refresh the marts, then rewrite
    the HTML report. The report comes last and on its own: by then the run's rows have
    landed and the marts are fresh, so a report that fails is logged and leaves the run
    completed (the next run writes it again). A snapshot that counted nothing on a platform
    (`run_outcome`) still gets its refresh and report, then fails this run with its message."""
    # The subflows carry this run's tags (the deployment's), so that the crash-detection
    # automations (`crash_detection`) watch them too: Prefect tags a subflow run only with
    # the tags of its `tags()` context.
    with tags(*flow_run.tags):
        snapshot_run = snapshot_flow(platforms=platforms, return_state=True)
        snapshot = snapshot_run.result(raise_on_failure=False)
        if not isinstance(snapshot, CountedNothing):
            snapshot = snapshot_run.result()  # any other failure ends this run here, as before
        refreshed = refresh_flow()
    report = written_report()
    if isinstance(snapshot, CountedNothing):
        # Its rows landed and the marts and report now show them; the run still failed.
        return failed(snapshot, dict)
    return {"snapshot": snapshot, "refresh": refreshed, "report": report}


def written_report() -> str | None:
    """Rewrite the HTML report (a task); its path, or None, logged, when it failed: the next
    run writes it again."""
    written = reporting.write_report(load_settings(), return_state=True)
    if written.is_completed():
        return str(written.result())
    get_run_logger().warning(
        "report: not written (%s); the next run writes it again", written.message
    )
    return None


if __name__ == "__main__":
    snapshot_and_refresh_flow()
