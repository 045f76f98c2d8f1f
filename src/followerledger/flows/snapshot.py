"""Snapshot flow: one run of the watchlist, one task per API request batch.

Thin by design: every step is a call into the library (`followerledger.snapshot`,
`followerledger.run_log`, …); this file only decides what runs concurrently, what is retried,
how platforms share their rate budgets, and what is logged and published as artifacts.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed
from prefect.task_runners import ThreadPoolTaskRunner

from followerledger import run_log, snapshot, stopping
from followerledger.catalog import publish
from followerledger.flows import as_is, reporting
from followerledger.flows.budgets import LocalBudgets, SharedBudgets, budgets_for_run
from followerledger.identity import Identities, known_identities
from followerledger.lake import Lake, LakeError
from followerledger.observation import STATUSES
from followerledger.report import report_uri
from followerledger.run_costs import run_costs
from followerledger.run_outcome import CountedNothing, counted_nothing, partly_counted
from followerledger.secret_blocks import with_secret_blocks
from followerledger.settings import Settings, load_settings
from followerledger.sources import (
    PlatformSource,
    build_source,
    missing_config,
    planned_requests,
)
from followerledger.sources.base import Target
from followerledger.sources.throttle import RatePolicy
from followerledger.watchlist import Watchlist, load_watchlist


@task(name="load_identities", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def load_identities(settings: Settings, lake: Lake) -> Identities:
    """The platform ids the watched handles resolved to in earlier runs."""
    return known_identities(settings.warehouse, lake)


@task(name="reserve_budgets", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def reserve_budgets(budgets: SharedBudgets | LocalBudgets, planned: dict[RatePolicy, int]) -> None:
    """Take this run's planned requests out of each platform's shared rate budget."""
    budgets.reserve(planned)


@task(name="fetch_batch", cache_policy=NO_CACHE)
def fetch_batch(
    source: PlatformSource, batch: list[Target], run_id: str, landing: snapshot.Landing
) -> dict[str, int]:
    """One API request batch, its rows handed to the platform's landing; returns the batch's
    rows per status (the source retries and honours rate limits itself)."""
    rows = snapshot.fetch_batch(source, batch, run_id)
    try:
        return landing.add(rows)
    except LakeError:
        stopping.check()  # the landing was given up because the run was stopped
        raise


@task(name="write_observations", cache_policy=NO_CACHE)
def write_observations(landing: snapshot.Landing) -> str | None:
    """Make one platform's landed rows visible as the run's Parquet file."""
    written = landing.commit()
    return written.key if written else None


@task(name="write_run_record", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def write_run_record(lake: Lake, record: run_log.RunRecord) -> str:
    """Land what the run found and spent on one platform."""
    return run_log.write_run_record(lake, record).key


@task(name="price_run", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def price_run(
    settings: Settings, lake: Lake, run_id: str, started_at: datetime
) -> dict[str, Decimal | None]:
    """X's estimated cost of this run, per platform (the `runs` model over today's files)."""
    return run_costs(settings.warehouse, lake, run_id, started_at.date())


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
    """Snapshot every watched account (of the given platforms) once, and land the rows.

    Ends Failed, with `CountedNothing`, after its rows landed and it reported, when a
    platform's every account got `error` (`run_outcome`)."""
    logger = get_run_logger()
    stopping.begin()
    settings = with_secret_blocks(load_settings())
    watchlist = load_watchlist(settings.watchlist)
    chosen = [p for p in watchlist.platforms if not platforms or p in platforms]
    problems = missing_config(settings, chosen)
    if problems:
        raise ConfigurationError("; ".join(problems))
    started_at = datetime.now(UTC)
    run_id = run_id or snapshot.new_run_id(started_at)
    lake = Lake(settings.lake)
    lake.sweep_leftovers(settings.warehouse)
    identities = load_identities(settings, lake)
    budgets = budgets_for_run(logger)

    sources: dict[str, PlatformSource] = {
        p: build_source(p, settings, throttle_for=budgets, logger=logger) for p in chosen
    }
    plans: dict[str, list[list[Target]]] = {}
    planned: dict[RatePolicy, int] = {}
    for platform, source in sources.items():
        targets = snapshot.plan_targets(watchlist, platform, identities)
        plans[platform] = snapshot.plan_batches(source, targets)
        planned.update(planned_requests(platform, plans[platform], settings))
        resolved = sum(1 for target in targets if target.account_id)
        logger.info(
            "%s: %d accounts (%d by id) in %d requests",
            platform,
            len(targets),
            resolved,
            len(plans[platform]),
        )
    reserve_budgets(budgets, planned)
    # Submitted round-robin across platforms: each platform caps its own requests in flight,
    # so a queue of one platform's batches would leave the others' waiting behind it.
    # Rows go to each platform's landing as their batch arrives, so that only counts stay in
    # memory (Prefect keeps every task's result until the flow ends).
    landings = {p: snapshot.Landing(lake, p, run_id, started_at) for p in plans}
    records = []
    try:
        futures = [
            fetch_batch.submit(sources[platform], batch, run_id, as_is(landings[platform]))
            for platform, batch in snapshot.interleave(plans)
        ]
        for future in futures:
            future.result()
        for name, landing in landings.items():
            record = run_log.record_counts(
                run_id,
                name,
                started_at,
                datetime.now(UTC),
                landing.statuses,
                landing.sources,
                sources[name].usage(),
            )
            write_observations(as_is(landing))
            write_run_record(lake, record)
            records.append(record)
            logger.info("%s: %s in %d requests", name, record.statuses, record.requests)
    except BaseException as error:
        # A signal (SIGTERM, Ctrl-C) ends the tasks' waits in the worker threads too, which
        # the run joins before it ends; set before the landings are given up.
        stopping.stop_on(error)
        raise
    finally:
        # A run that fails part-way leaves no partial file behind (committed ones stay).
        for landing in landings.values():
            landing.abort()

    publish_catalog(settings, lake, as_is(watchlist))
    costs = price_run(settings, lake, run_id, started_at)
    result: dict[str, Any] = {
        "run_id": run_id,
        "started_at": started_at.isoformat(),
        "platforms": [
            usage_row(record)
            | {
                "statuses": record.statuses,
                "cost": _dollars(costs.get(record.platform)),
                "error_detail": landings[record.platform].error_detail,
            }
            for record in records
        ],
    }

    # Operations (issue 5): the run's artifacts and alerts. Keep this block last.
    changes = reporting.read_account_changes(settings, lake, as_is(watchlist), run_id)
    reporting.publish_run_artifacts(result, as_is(changes), report_uri(settings.warehouse))
    reporting.send_alerts(settings, as_is(watchlist), as_is(changes))
    for line in partly_counted(result["platforms"]):
        logger.warning("%s", line)
    # Last, once every row has landed and the run has reported: a platform that counted
    # nothing fails the run, and so fires the failed-run alert (README, "Exit codes").
    if counted_nothing(result["platforms"]):
        return failed(CountedNothing(result))
    return result


def failed(error: CountedNothing) -> dict[str, Any]:
    """The flow's Failed end, carrying `error` (whose `result` is the run's summary).

    Returned rather than raised, so that a user's mistake (a wrong token) is not logged with
    a traceback. Prefect makes a returned state the run's final state: a caller gets the
    error raised (or, with `return_state=True`, from `state.result(raise_on_failure=False)`),
    never the state itself as a result, hence the cast.
    """
    return cast(dict[str, Any], Failed(message=str(error), data=error))


def _dollars(amount: Decimal | None) -> float | None:
    return None if amount is None else float(amount)


def usage_row(record: run_log.RunRecord) -> dict[str, Any]:
    """One platform's usage as a plain row (artifact table, flow result)."""
    row = dataclasses.asdict(record)
    statuses = row.pop("statuses")
    row.update(
        accounts=record.accounts,
        started_at=record.started_at.isoformat(),
        finished_at=record.finished_at.isoformat(),
    )
    row.update({status: statuses.get(status, 0) for status in STATUSES})
    return row


if __name__ == "__main__":
    snapshot_flow()
