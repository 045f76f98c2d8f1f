"""A snapshot run's plan: its id, the accounts each platform reads, their request batches
and what those batches spend of each rate budget.

The Prefect flow in `flows/snapshot.py` only orchestrates these steps; each works, and is
tested, without Prefect.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from followerledger.observation import Observation
from followerledger.settings import Settings
from followerledger.sources import planned_requests
from followerledger.sources.base import PlatformSource, Target
from followerledger.sources.throttle import RatePolicy
from followerledger.watchlist import Watchlist, normalize_handle

T = TypeVar("T")


def new_run_id(started_at: datetime) -> str:
    """A run id that sorts by start time and never collides: `20261126T100000Z-1a2b3c`."""
    return f"{started_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def plan_targets(
    watchlist: Watchlist,
    platform: str,
    identities: Mapping[tuple[str, str], str] | None = None,
) -> list[Target]:
    """The watched accounts of one platform, each with its stable id when already known."""
    known = identities or {}
    return [
        Target(account.handle, known.get((platform, normalize_handle(platform, account.handle))))
        for account in watchlist.for_platform(platform)
    ]


def plan_batches(source: PlatformSource, targets: Sequence[Target]) -> list[list[Target]]:
    """The request batches of one platform, at its API's maximum batch size."""
    return source.plan(targets)


@dataclasses.dataclass(frozen=True, slots=True)
class RunPlan:
    """What a run will ask: each platform's request batches, the requests they take from
    each rate budget, and one line per platform for the run's log."""

    batches: dict[str, list[list[Target]]]
    requests: dict[RatePolicy, int]
    lines: list[str]


def plan_run(
    watchlist: Watchlist,
    sources: Mapping[str, PlatformSource],
    identities: Mapping[tuple[str, str], str],
    settings: Settings,
) -> RunPlan:
    """Plan every platform's batches (by id where the handle resolved before)."""
    batches: dict[str, list[list[Target]]] = {}
    requests: dict[RatePolicy, int] = {}
    lines = []
    for platform, source in sources.items():
        targets = plan_targets(watchlist, platform, identities)
        batches[platform] = plan_batches(source, targets)
        requests.update(planned_requests(platform, batches[platform], settings))
        resolved = sum(1 for target in targets if target.account_id)
        lines.append(
            f"{platform}: {len(targets)} accounts ({resolved} by id) "
            f"in {len(batches[platform])} requests"
        )
    return RunPlan(batches, requests, lines)


def interleave(plans: Mapping[str, Sequence[T]]) -> list[tuple[str, T]]:
    """Every platform's batches, taken in turn: (platform, batch) round-robin."""
    queues = [[(platform, batch) for batch in batches] for platform, batches in plans.items()]
    return [item for turn in itertools.zip_longest(*queues) for item in turn if item is not None]


def fetch_batch(source: PlatformSource, batch: Sequence[Target], run_id: str) -> list[Observation]:
    """One request batch -> exactly one observation per target (never raises for API trouble)."""
    return source.fetch(batch, run_id)
