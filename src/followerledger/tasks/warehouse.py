"""The warehouse's tasks, shared by the flows that change it: publish the catalog, refresh the
marts, compact the lake, import a history file. Each a thin call into the library."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from followerledger import compaction
from followerledger.catalog import publish
from followerledger.configured_refresh import refresh_configured
from followerledger.history_import import ImportReport, import_history
from followerledger.layout import WarehouseLayout
from followerledger.refresh import RefreshReport
from followerledger.settings import Settings
from followerledger.watchlist import Watchlist


@task(name="publish_catalog", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def publish_catalog(layout: WarehouseLayout, watchlist: Watchlist) -> str:
    """Make the new rows visible in the warehouse's `observations` view."""
    return str(publish(layout, watchlist))


@task(name="refresh_marts", retries=1, retry_delay_seconds=10, cache_policy=NO_CACHE)
def refresh_marts(settings: Settings, watchlist: Watchlist, full: bool) -> RefreshReport:
    """Refresh the marts and publish the catalog (idempotent, so safe to retry)."""
    return refresh_configured(settings, watchlist, full=full)


@task(name="compact_lake", retries=1, retry_delay_seconds=10, cache_policy=NO_CACHE)
def compact_lake(
    layout: WarehouseLayout, watchlist: Watchlist, grace: timedelta
) -> compaction.CompactionReport:
    """Compact the lake (idempotent: a retry finishes what an interrupted run began)."""
    return compaction.compact(layout, watchlist, grace=grace)


@task(name="import_history", cache_policy=NO_CACHE)
def import_file(path: Path, layout: WarehouseLayout, watchlist: Watchlist) -> ImportReport:
    """Validate the whole CSV, then land it (all rows or none; re-importing replaces).
    Not retried: a bad file stays bad, and the run is started by hand anyway."""
    return import_history(path, layout, watchlist=watchlist)
