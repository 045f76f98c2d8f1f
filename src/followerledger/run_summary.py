"""What a snapshot run returns: a typed summary per platform, which the CLI, the demo, the
artifacts, the run's verdict (`run_outcome`) and alerts read. Frozen and picklable: Prefect
persists a deployed run's result (and a failed run's `CountedNothing`) by pickling it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from followerledger.run_log import RunRecord

__all__ = [
    "PlatformSummary",
    "RunSummary",
    "of_run",
    "summarize_run",
]


@dataclasses.dataclass(frozen=True)
class PlatformSummary:
    """One platform of a run: accounts by status, what it spent, X's estimated cost in
    dollars, and its rows' most frequent error detail."""

    platform: str
    statuses: dict[str, int]
    requests: int
    quota_units: int | None = None
    cost: float | None = None
    error_detail: str | None = None
    source: str = "api"
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def accounts(self) -> int:
        """Watched accounts the run reported on (one row each)."""
        return sum(self.statuses.values())


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """One snapshot run: its id, when it started, and each platform's summary."""

    run_id: str
    started_at: datetime
    platforms: tuple[PlatformSummary, ...]


def summarize_run(
    run_id: str,
    started_at: datetime,
    records: Sequence[RunRecord],
    costs: Mapping[str, Decimal | None],
    error_details: Mapping[str, str | None],
) -> RunSummary:
    """The summary of a run from its platforms' run records, costs and error details."""
    platforms = []
    for record in records:
        cost = costs.get(record.platform)
        platforms.append(
            PlatformSummary(
                platform=record.platform,
                statuses=record.statuses,
                requests=record.requests,
                quota_units=record.quota_units,
                cost=None if cost is None else float(cost),
                error_detail=error_details.get(record.platform),
                source=record.source,
                started_at=record.started_at,
                finished_at=record.finished_at,
            )
        )
    return RunSummary(run_id, started_at, tuple(platforms))


def of_run(result: object) -> RunSummary:
    """A snapshot flow's result as the whole run's summary: the flow returns one unless it
    was given one shard (TypeError then: the parent of a fanned-out run summarizes it)."""
    if not isinstance(result, RunSummary):
        raise TypeError(f"a snapshot of one shard returns no run summary: {type(result).__name__}")
    return result
