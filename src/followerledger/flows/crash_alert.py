"""Crashed-run alert flow: the failed-run alert for a run whose process died.

Started by the `followerledger: alert on crashed runs` automation (`crash_detection`) with
the crashed run's event resource id; a killed process runs no `on_crashed` hook, so the
alert is sent from here. Once per run: the alert ledger skips a run already reported.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client

from followerledger.crash_detection import ALERT_FLOW, flow_run_id
from followerledger.tasks.reporting import send_failed_run_alert


@flow(name=ALERT_FLOW)
def crashed_run_alert_flow(flow_run: str) -> dict[str, Any]:
    """Alert once for the crashed flow run `flow_run` (`prefect.flow-run.<id>` or an id);
    a subflow is left to its parent, and a run no longer crashed (retried) is skipped."""
    logger = get_run_logger()
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id(flow_run))
        flow_name = client.read_flow(run.flow_id).name
    if run.state is None or not run.state.is_crashed():
        logger.info("flow run %s is %s now: no alert", run.name, run.state_name)
        return {"alerted": False, "flow_run": str(run.id)}
    if run.parent_task_run_id is not None:
        logger.info("flow run %s is a subflow: its parent run reports it", run.name)
        return {"alerted": False, "flow_run": str(run.id)}
    report = send_failed_run_alert(flow_name, run, run.state, logger)
    sent = report is not None and bool(report.sent)
    logger.info(
        "failed-run alert for %s: %s",
        run.name,
        "off" if report is None else "sent" if sent else "sent before or not delivered",
    )
    return {"alerted": sent, "flow_run": str(run.id)}


if __name__ == "__main__":
    import sys

    crashed_run_alert_flow(sys.argv[1])
