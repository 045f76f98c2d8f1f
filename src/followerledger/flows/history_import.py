"""History import flow: backfill a CSV on demand, publish it, then refresh the marts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from followerledger.flows import as_is
from followerledger.flows.refresh import refresh_marts
from followerledger.history_import import ImportReport, import_history
from followerledger.lake import lake_of
from followerledger.layout import WarehouseLayout
from followerledger.settings import load_settings
from followerledger.tasks.reporting import alert_failed_run
from followerledger.tasks.snapshot import publish_catalog
from followerledger.watchlist import Watchlist, load_watchlist


@task(name="import_history", cache_policy=NO_CACHE)
def import_file(path: Path, layout: WarehouseLayout, watchlist: Watchlist) -> ImportReport:
    """Validate the whole CSV, then land it (all rows or none; re-importing replaces).
    Not retried: a bad file stays bad, and the run is started by hand anyway."""
    return import_history(path, lake_of(layout), watchlist=watchlist, layout=layout)


@flow(name="import-history", on_failure=[alert_failed_run], on_crashed=[alert_failed_run])
def import_history_flow(file: str, refresh: bool = True) -> dict[str, Any]:
    """Import FILE (a path on the worker, relative to the project folder) into the lake."""
    settings = load_settings()
    watchlist = load_watchlist(settings.watchlist)
    layout = settings.layout
    report = import_file(Path(file), layout, as_is(watchlist))
    publish_catalog(layout, as_is(watchlist))
    logger = get_run_logger()
    warning = report.unwatched_warning()
    if warning is not None:
        logger.warning(warning)
    logger.info(
        "imported %d rows from %s as %s (%d files)",
        report.rows,
        file,
        report.run_id,
        len(report.files),
    )
    if refresh:
        refresh_marts(settings, as_is(watchlist), False)
    return {
        "run_id": report.run_id,
        "rows": report.rows,
        "files": len(report.files),
        "unwatched_rows": sum(count for _, _, count in report.unwatched),
    }
