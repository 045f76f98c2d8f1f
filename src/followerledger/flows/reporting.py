"""Tasks that report on a snapshot run (artifacts, alerts), the HTML report task, and the
failed-run alert hook.

Kept out of `snapshot.py`: the snapshot flow calls these in one block at its end (the hourly
flow writes the HTML report after its refresh). Each task is a thin call into `recent`,
`artifacts`, `alerts` or `report`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from prefect import Flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import FlowRun, State
from prefect.logging.loggers import flow_run_logger
from prefect.settings import get_current_settings

from followerledger import alerts, artifacts, recent, report
from followerledger.lake import Lake
from followerledger.recent import AccountChange
from followerledger.secret_blocks import SecretBlockError, with_secret_blocks
from followerledger.settings import Settings, load_settings
from followerledger.urls import shown_url
from followerledger.watchlist import AlertRules, Watchlist, WatchlistError, load_watchlist


@task(name="read_account_changes", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def read_account_changes(
    settings: Settings, lake: Lake, watchlist: Watchlist, run_id: str
) -> list[AccountChange]:
    """Each watched account's count in this run next to its earlier counts (from the lake)."""
    window = recent.read_window(watchlist.alerts.stale_hours)
    now = datetime.now(UTC)
    return recent.account_changes(settings.warehouse, lake, watchlist, run_id, now, window)


@task(name="publish_run_artifacts", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def publish_run_artifacts(
    result: dict[str, Any], changes: list[AccountChange], report_url: str | None = None
) -> None:
    """The run's markdown summary (linking to the latest report) and per-platform table, as
    Prefect artifacts."""
    create_markdown_artifact(
        artifacts.summary_markdown(result, changes, report_url),
        key=artifacts.SUMMARY_KEY,
        description=f"Snapshot run {result['run_id']}: accounts, requests, biggest movers",
    )
    create_table_artifact(
        artifacts.platform_rows(result["platforms"]),
        key=artifacts.TABLE_KEY,
        description=f"Snapshot run {result['run_id']}: accounts by status per platform",
    )


@task(name="write_report", cache_policy=NO_CACHE)
def write_report(settings: Settings) -> str:
    """Rewrite `<warehouse>/report.html` from the published warehouse; its path."""
    return str(
        report.write_report(
            settings.catalog_path, report.report_path(settings.warehouse), now=datetime.now(UTC)
        ).path
    )


@task(name="send_alerts", cache_policy=NO_CACHE)
def send_alerts(settings: Settings, watchlist: Watchlist, changes: list[AccountChange]) -> None:
    """Send the alerts this run calls for, each event once (a failed delivery is retried by
    the next run; a bad destination is logged, and never fails a run whose rows landed)."""
    logger = get_run_logger()
    try:
        report = alerts.alert_on_changes(settings, watchlist.alerts, changes, datetime.now(UTC))
    except alerts.AlertConfigError as error:
        logger.error("alerts: %s", error)
        return
    if report is None:
        return
    logger.info("alerts: %d sent, %d sent before", len(report.sent), report.already_sent)
    if report.failed:
        logger.warning(
            "alerts: %d could not be delivered; the next run sends them again",
            len(report.failed),
        )


def alert_failed_run(flow: Flow[Any, Any], flow_run: FlowRun, state: State[Any]) -> None:
    """Flow hook (on_failure, on_crashed): alert once for a failed run.

    Only the outermost run alerts: a failing subflow fails its parent, which reports it.
    """
    if flow_run.parent_task_run_id is not None:
        return
    send_failed_run_alert(flow.name, flow_run, state, flow_run_logger(flow_run, flow))


def send_failed_run_alert(
    flow_name: str,
    flow_run: FlowRun,
    state: State[Any],
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> alerts.DispatchReport | None:
    """Send the failed-run alert for `flow_run` ended in `state`, once per run (the alert
    ledger remembers it); None when alerts or the failed-run rule are off."""
    settings = load_settings()
    try:
        settings = with_secret_blocks(settings)
    except SecretBlockError as error:
        # Alert with what the environment holds; the unread block is worth a log line.
        logger.warning("alerts: %s", error)
    try:
        rules = load_watchlist(settings.watchlist).alerts
    except WatchlistError:
        rules = AlertRules()  # the failure may well be the watchlist: still say so
    ui = get_current_settings().ui_url
    alert = alerts.failed_run_alert(
        flow_name,
        flow_run.name,
        str(flow_run.id),
        state.name or state.type.value,
        settings.redact(state.message or ""),
        f"{shown_url(ui)}/runs/flow-run/{flow_run.id}" if ui else None,
    )
    return alerts.alert_on_failed_run(settings, rules, alert, datetime.now(UTC))
