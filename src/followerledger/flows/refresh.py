"""Refresh flow: bring the marts up to date with the lake (incrementally unless `full`)."""

from __future__ import annotations

import dataclasses
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from followerledger.configured_refresh import refresh_configured
from followerledger.flows import as_is
from followerledger.refresh import RefreshReport
from followerledger.settings import Settings, load_settings
from followerledger.tasks.reporting import alert_failed_run
from followerledger.watchlist import Watchlist, load_watchlist


@task(name="refresh_marts", retries=1, retry_delay_seconds=10, cache_policy=NO_CACHE)
def refresh_marts(settings: Settings, watchlist: Watchlist, full: bool) -> RefreshReport:
    """Refresh the marts and publish the catalog (idempotent, so safe to retry)."""
    return refresh_configured(settings, watchlist, full=full)


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
