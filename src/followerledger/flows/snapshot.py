"""Snapshot flow: one run of the watchlist, one task per API request batch.

Thin by design: every step is a call into `followerledger.snapshot`; this file only decides
what runs concurrently, what is retried, and what is logged.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from followerledger import snapshot
from followerledger.catalog import publish
from followerledger.flows import reporting
from followerledger.lake import Lake
from followerledger.observation import Observation
from followerledger.settings import Settings, load_settings
from followerledger.sources import PlatformSource, build_source, missing_config
from followerledger.sources.base import Target
from followerledger.watchlist import Watchlist, load_watchlist


@task(name="fetch_batch", cache_policy=NO_CACHE)
def fetch_batch(source: PlatformSource, batch: list[Target], run_id: str) -> list[Observation]:
    """One API request batch (the source retries and honours rate limits itself)."""
    return snapshot.fetch_batch(source, batch, run_id)


@task(name="write_observations", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def write_observations(
    lake: Lake, platform: str, run_id: str, started_at: datetime, rows: list[Observation]
) -> str:
    """Land one platform's rows as one Parquet file."""
    return snapshot.write_observations(lake, platform, run_id, started_at, rows).key


@task(name="publish_catalog", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def publish_catalog(settings: Settings, lake: Lake, watchlist: Watchlist) -> str:
    """Make the new rows visible in the warehouse's `observations` view."""
    return str(publish(settings.warehouse, lake, watchlist))


class ConfigurationError(ValueError):
    """The run cannot start: the message says what to fix."""


# Batches of every platform run concurrently; each platform's client caps its own in-flight
# requests (FOLLOWERLEDGER_FETCH_CONCURRENCY).
_RUNNER: Any = ThreadPoolTaskRunner(max_workers=16)


@flow(
    name="snapshot",
    task_runner=_RUNNER,
    log_prints=False,
    on_failure=[reporting.alert_failed_run],
    on_crashed=[reporting.alert_failed_run],
)
def snapshot_flow(platforms: list[str] | None = None, run_id: str | None = None) -> dict[str, Any]:
    """Snapshot every watched account (of the given platforms) once, and land the rows."""
    logger = get_run_logger()
    settings = load_settings()
    watchlist = load_watchlist(settings.watchlist)
    chosen = [p for p in watchlist.platforms if not platforms or p in platforms]
    problems = missing_config(settings, chosen)
    if problems:
        raise ConfigurationError("; ".join(problems))
    started_at = datetime.now(UTC)
    run_id = run_id or snapshot.new_run_id(started_at)
    lake = Lake(settings.lake)

    sources: dict[str, PlatformSource] = {p: build_source(p, settings) for p in chosen}
    pending: dict[str, list[PrefectFuture[list[Observation]]]] = {}
    for platform, source in sources.items():
        targets = snapshot.plan_targets(watchlist, platform)
        batches = snapshot.plan_batches(source, targets)
        logger.info("%s: %d accounts in %d requests", platform, len(targets), len(batches))
        pending[platform] = [fetch_batch.submit(source, batch, run_id) for batch in batches]

    summaries = []
    for name, futures in pending.items():
        rows = [row for future in futures for row in future.result()]
        key = write_observations(lake, name, run_id, started_at, rows) if rows else None
        requests = getattr(getattr(sources[name], "client", None), "requests_made", 0)
        summary = snapshot.summarize(name, rows, requests, key)
        summaries.append(summary)
        logger.info("%s: %s in %d requests", name, summary.statuses, summary.requests)

    publish_catalog(settings, lake, watchlist)
    result = {
        "run_id": run_id,
        "started_at": started_at.isoformat(),
        "platforms": [dataclasses.asdict(summary) for summary in summaries],
    }

    # Operations (issue 5): the run's artifacts and alerts. Keep this block last.
    changes = reporting.read_account_changes(settings, lake, watchlist, run_id)
    reporting.publish_run_artifacts(result, changes)
    reporting.send_alerts(settings, watchlist, changes)
    return result


if __name__ == "__main__":
    snapshot_flow()
