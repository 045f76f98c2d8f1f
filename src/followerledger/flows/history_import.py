"""History import flow: backfill a CSV on demand, publish it, then refresh the marts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from followerledger.flows import as_is
from followerledger.settings import load_settings
from followerledger.tasks.reporting import alert_failed_run
from followerledger.tasks.warehouse import import_file, publish_catalog, refresh_marts
from followerledger.watchlist import load_watchlist


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
        "imported %d rows from %s as %s (%d partitions, observations table version %d)",
        report.rows,
        file,
        report.run_id,
        len(report.partitions),
        report.version,
    )
    if refresh:
        refresh_marts(settings, as_is(watchlist), False)
    return {
        "run_id": report.run_id,
        "rows": report.rows,
        "version": report.version,
        "partitions": len(report.partitions),
        "unwatched_rows": sum(count for _, _, count in report.unwatched),
    }
