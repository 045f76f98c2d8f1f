"""The snapshot flow's tasks: each a logical step of a run, a thin call into the library,
with its retries (on I/O only) and no result caching."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from prefect import task
from prefect.cache_policies import NO_CACHE

from followerledger import landing, progress, run_log, run_plan, stopping
from followerledger.delta_lake import DeltaLake
from followerledger.identity import Identities, known_identities
from followerledger.lake import LakeError
from followerledger.layout import WarehouseLayout
from followerledger.run_costs import run_costs
from followerledger.sources import PlatformSource
from followerledger.sources.base import Target
from followerledger.sources.prefect_budgets import LocalBudgets, SharedBudgets
from followerledger.sources.throttle import RatePolicy


@task(name="load_identities", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def load_identities(layout: WarehouseLayout) -> Identities:
    """The platform ids the watched handles resolved to in earlier runs."""
    return known_identities(layout)


@task(name="reserve_budgets", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def reserve_budgets(budgets: SharedBudgets | LocalBudgets, planned: dict[RatePolicy, int]) -> None:
    """Take this run's planned requests out of each platform's shared rate budget."""
    budgets.reserve(planned)


@task(name="fetch_batch", cache_policy=NO_CACHE)
def fetch_batch(
    source: PlatformSource, batch: list[Target], run_id: str, landing: landing.Landing
) -> dict[str, int]:
    """One API request batch, its rows handed to the platform's landing; returns the batch's
    rows per status (the source retries and honours rate limits itself)."""
    rows = run_plan.fetch_batch(source, batch, run_id)
    try:
        counts = landing.add(rows)
    except LakeError:
        stopping.check()  # the landing was given up because the run was stopped
        raise
    progress.batch_done(source.platform, counts)
    return counts


@task(name="write_observations", cache_policy=NO_CACHE)
def write_observations(landing: landing.Landing) -> int | None:
    """Make one platform's landed rows visible in one commit; the table version made."""
    return landing.commit()


@task(name="write_run_record", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def write_run_record(lake: DeltaLake, record: run_log.RunRecord) -> int:
    """Land what the run found and spent on one platform; the run log's version made."""
    return landing.write_run_record(lake, record)


@task(name="price_run", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def price_run(
    layout: WarehouseLayout, run_id: str, started_at: datetime
) -> dict[str, Decimal | None]:
    """X's estimated cost of this run, per platform (the `runs` model over today's files)."""
    return run_costs(layout, run_id, started_at.date())
