"""Compaction flow: Delta compaction of each closed day, then vacuum with the reader grace."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger

from followerledger.settings import load_settings
from followerledger.tasks.reporting import alert_failed_run
from followerledger.tasks.warehouse import compact_lake
from followerledger.watchlist import load_watchlist


@flow(name="compact", on_failure=[alert_failed_run], on_crashed=[alert_failed_run])
def compact_flow(grace_hours: float | None = None) -> dict[str, Any]:
    """Compact the lake; `grace_hours` overrides FOLLOWERLEDGER_READER_GRACE_HOURS."""
    settings = load_settings()
    watchlist = load_watchlist(settings.watchlist)
    hours = settings.reader_grace_hours if grace_hours is None else grace_hours
    report = compact_lake(settings.layout, watchlist, timedelta(hours=hours))
    get_run_logger().info(report.describe())
    return {**dataclasses.asdict(report), "grace": report.grace.total_seconds()}


if __name__ == "__main__":
    compact_flow()
