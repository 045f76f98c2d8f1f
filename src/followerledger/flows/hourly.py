"""The hourly deployment's flow: one snapshot run, then an incremental refresh."""

from __future__ import annotations

from typing import Any

from prefect import flow

from followerledger.flows.refresh import refresh_flow
from followerledger.flows.reporting import alert_failed_run
from followerledger.flows.snapshot import snapshot_flow


@flow(name="snapshot-and-refresh", on_failure=[alert_failed_run], on_crashed=[alert_failed_run])
def snapshot_and_refresh_flow(platforms: list[str] | None = None) -> dict[str, Any]:
    """Snapshot the watchlist (a subflow, with its artifacts), then refresh the marts."""
    snapshot = snapshot_flow(platforms=platforms)
    refreshed = refresh_flow()
    return {"snapshot": snapshot, "refresh": refreshed}


if __name__ == "__main__":
    snapshot_and_refresh_flow()
