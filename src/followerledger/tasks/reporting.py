"""Reporting tasks (a snapshot run's artifacts and alerts, the HTML report) and the
failed-run alert hook: each a thin call into `run_changes`, `artifacts`, `alerts` or `report`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import Flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun, State
from prefect.logging.loggers import flow_run_logger
from prefect.settings import get_current_settings

from followerledger import alerts, artifacts, run_changes
from followerledger.layout import WarehouseLayout
from followerledger.run_changes import RunChanges
from followerledger.run_summary import RunSummary
from followerledger.settings import Settings
from followerledger.sources.http import Logger
from followerledger.urls import shown_url
from followerledger.watchlist import Watchlist


@task(name="read_account_changes", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def read_account_changes(layout: WarehouseLayout, watchlist: Watchlist, run_id: str) -> RunChanges:
    """What this run reports of its accounts' counts next to their earlier ones (from the
    lake, reduced in SQL): the biggest movers, the accounts without a count, and the
    accounts the alert rules may concern."""
    return run_changes.run_changes(
        layout,
        watchlist,
        run_id,
        datetime.now(UTC),
        movers=artifacts.MOVERS,
        uncounted=artifacts.UNCOUNTED,
        stale_keys=alerts.stale_keys(layout),
    )


@task(name="publish_run_artifacts", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def publish_run_artifacts(
    result: RunSummary, changes: RunChanges, report_url: str | None = None
) -> None:
    """The run's summary (linking to the latest report) and platform table, as artifacts."""
    create_markdown_artifact(
        artifacts.summary_markdown(result, changes, report_url),
        key=artifacts.SUMMARY_KEY,
        description=f"Snapshot run {result.run_id}: accounts, requests, biggest movers",
    )
    create_table_artifact(
        artifacts.platform_rows(result.platforms),
        key=artifacts.TABLE_KEY,
        description=f"Snapshot run {result.run_id}: accounts by status per platform",
    )


@task(name="write_report", cache_policy=NO_CACHE)
def write_report(settings: Settings) -> str:
    """Rewrite the warehouse's report (`WarehouseLayout.report`) from the published
    warehouse; its path."""
    # Imported here: its charts and page libraries cost a snapshot ~10 MB it never uses.
    from followerledger import report

    layout = settings.layout
    written = report.write_report(
        layout.catalog, layout.report, now=datetime.now(UTC), lake=layout.lake_uri
    )
    return str(written.path)


@task(name="send_alerts", cache_policy=NO_CACHE)
def send_alerts(settings: Settings, watchlist: Watchlist, changes: RunChanges) -> None:
    """Send the alerts this run calls for (`alerts.send_change_alerts`)."""
    now, logger = datetime.now(UTC), get_run_logger()
    alerts.send_change_alerts(settings, watchlist.alerts, changes.alerting, now, logger)


def alert_failed_run(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Flow hook (on_failure, on_crashed): one alert per failed run, sent by the outermost."""
    if flow_run.parent_task_run_id is None:
        send_failed_run_alert(flow.name, flow_run, state, flow_run_logger(flow_run, flow))


def send_failed_run_alert(
    flow_name: str, flow_run: FlowRun, state: State[Any], logger: Logger
) -> alerts.DispatchReport | None:
    """The failed-run alert of `flow_run` ended in `state`, linking to it in Prefect's UI."""
    ui = get_current_settings().ui_url
    link = f"{shown_url(ui)}/runs/flow-run/{flow_run.id}" if ui else None
    name, message = state.name or state.type.value, state.message or ""
    return alerts.send_failed_run_alert(
        flow_name, flow_run.name, str(flow_run.id), name, message, link, logger
    )
