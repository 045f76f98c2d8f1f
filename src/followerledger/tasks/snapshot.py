"""The snapshot flow's tasks: each a logical step of a run, a thin call into the library,
with its retries (on I/O, and of a whole shard) and no result caching."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import cast
from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.futures import as_completed

from followerledger import run_plan, stopping
from followerledger.flows import as_is
from followerledger.identity import Identities, known_identities
from followerledger.layout import WarehouseLayout
from followerledger.run_costs import credential_costs, run_costs
from followerledger.shards import ShardSpec


@task(name="load_identities", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def load_identities(layout: WarehouseLayout) -> Identities:
    """The platform ids the watched handles resolved to in earlier runs."""
    return known_identities(layout)


@task(name="snapshot_shard", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def snapshot_shard(
    run: run_plan.StartedRun,
    shard: ShardSpec,
    budgets: run_plan.Budgets,
    identities: Mapping[tuple[str, str], str],
) -> run_plan.ShardResult:
    """One shard of the run, fetched and landed (`run_plan.snapshot_shard`); its retry lands
    the whole shard again, replacing only that shard's rows. Per-batch lines at DEBUG."""
    return run_plan.snapshot_shard(run, shard, budgets, identities, get_run_logger())


@task(name="price_run", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def price_run(
    layout: WarehouseLayout, run_id: str, started_at: datetime
) -> dict[str, Decimal | None]:
    """X's estimated cost of this run, per platform (the `runs` model over today's files)."""
    return run_costs(layout, run_id, started_at.date())


@task(name="price_credentials", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def price_credentials(
    layout: WarehouseLayout, run_id: str, started_at: datetime
) -> dict[tuple[str, str], Decimal | None]:
    """X's estimated cost of this run per platform and credential label (the
    `run_credentials` model over today's files)."""
    return credential_costs(layout, run_id, started_at.date())


def run_shards(
    run: run_plan.StartedRun,
    shards: Sequence[ShardSpec],
    budgets: run_plan.Budgets,
    identities: Mapping[tuple[str, str], str],
) -> None:
    """Submit one `snapshot_shard` task per shard and wait for them all, the progress
    artifact told as each lands; the first that failed (after its retry) is raised. A
    signal's exception in the flow's thread, whenever it comes (while the tasks are
    submitted too), first sets the stop event (`stopping.stop_on`), so that the shards'
    waits in their threads end at once."""
    try:
        progress = ShardProgress(run.run_id, len(shards))
        futures = [
            snapshot_shard.submit(as_is(run), shard, as_is(budgets), as_is(identities))
            for shard in shards
        ]
        for future in as_completed(futures):
            progress.shard_done(future.result())
    except BaseException as error:
        stopping.stop_on(error)
        raise


class ShardProgress:
    """The run's Prefect progress artifact: the share of its shards landed, updated as each
    lands. Outside a Prefect flow run there is no artifact, and `shard_done` only counts."""

    def __init__(self, run_id: str, shards: int) -> None:
        self.run_id, self.shards, self.done = run_id, shards, 0
        self._lock = threading.Lock()
        self._artifact: UUID | None = None
        if FlowRunContext.get() is not None:
            self._artifact = cast(
                UUID,
                create_progress_artifact(
                    0.0, key="snapshot-progress", description=self._description()
                ),
            )

    def shard_done(self, result: run_plan.ShardResult) -> None:
        """One more shard landed: the artifact shows the share done and what it counted."""
        with self._lock:
            self.done += 1
            accounts = sum(record.accounts for record in result.records)
            if self._artifact is not None:
                update_progress_artifact(
                    self._artifact,
                    100.0 * self.done / self.shards,
                    description=self._description(f"; shard {result.shard.index}: {accounts}"),
                )

    def _description(self, last: str = "") -> str:
        return (
            f"snapshot run {self.run_id}: {self.done} of {self.shards} shards landed"
            f"{last and last + ' accounts'}"
        )
