"""Refresh flow: bring the marts up to date with the lake (incrementally unless `full`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from prefect import flow, get_run_logger

from followerledger.flows import as_is
from followerledger.settings import load_settings
from followerledger.tasks.reporting import alert_failed_run
from followerledger.tasks.warehouse import refresh_marts
from followerledger.watchlist import load_watchlist


@flow(name="refresh", on_failure=[alert_failed_run], on_crashed=[alert_failed_run])
def refresh_flow(full: bool = False) -> dict[str, Any]:
    """Refresh the marts: only what new lake files change, or everything with `full`."""
    settings = load_settings()
    watchlist = load_watchlist(settings.watchlist)
    report = refresh_marts(settings, as_is(watchlist), full)
    get_run_logger().info(report.describe())
    return dataclasses.asdict(report)


if __name__ == "__main__":
    refresh_flow()
