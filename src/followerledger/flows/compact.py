"""Compaction flow: merge each closed day's lake files; delete originals past the grace period."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from followerledger import compaction
from followerledger.layout import WarehouseLayout
from followerledger.settings import load_settings
from followerledger.tasks.reporting import alert_failed_run
from followerledger.watchlist import Watchlist, load_watchlist


@task(name="compact_lake", retries=1, retry_delay_seconds=10, cache_policy=NO_CACHE)
def compact_lake(
    layout: WarehouseLayout, watchlist: Watchlist, grace: timedelta
) -> compaction.CompactionReport:
    """Compact the lake (idempotent: a retry finishes what an interrupted run began)."""
    return compaction.compact(layout, watchlist, grace=grace)


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
