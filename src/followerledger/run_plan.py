"""A snapshot run's start and plan: what it works with (settings, watchlist, sources), its id,
the accounts each platform reads, their request batches and what those batches spend of each
rate budget.

The Prefect flow in `flows/snapshot.py` only orchestrates these steps; each works, and is
tested, without Prefect.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from followerledger.delta_lake import DeltaLake, delta_lake_of
from followerledger.layout import WarehouseLayout
from followerledger.leftovers import sweep_warehouse
from followerledger.observation import Observation
from followerledger.secret_blocks import with_secret_blocks
from followerledger.settings import Settings, load_settings
from followerledger.sources import ThrottleFactory, build_source, planned_requests, require_config
from followerledger.sources.base import PlatformSource, Target
from followerledger.sources.http import Logger
from followerledger.sources.throttle import RatePolicy
from followerledger.watchlist import Watchlist, load_watchlist, normalize_handle

__all__ = [
    "RunPlan",
    "StartedRun",
    "fetch_batch",
    "interleave",
    "new_run_id",
    "plan_batches",
    "plan_run",
    "plan_targets",
    "start_run",
]

T = TypeVar("T")


def new_run_id(started_at: datetime) -> str:
    """A run id that sorts by start time and never collides: `20261126T100000Z-1a2b3c`."""
    return f"{started_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@dataclasses.dataclass(frozen=True)
class StartedRun:
    """What a snapshot run works with once it has started: its settings and watchlist, where
    it lands, its id and start, and one source per chosen platform."""

    settings: Settings
    watchlist: Watchlist
    layout: WarehouseLayout
    lake: DeltaLake
    run_id: str
    started_at: datetime
    sources: dict[str, PlatformSource]


def start_run(
    platforms: Sequence[str] | None,
    run_id: str | None,
    *,
    throttle_for: ThrottleFactory,
    logger: Logger,
) -> StartedRun:
    """Start a snapshot run: settings (with the Prefect Secret blocks) and the watchlist read,
    the chosen platforms' settings checked (the one check: `ConfigError` naming what to set),
    the run id given or made, a killed run's leftover files swept, and the sources built."""
    settings = with_secret_blocks(load_settings())
    watchlist = load_watchlist(settings.watchlist)
    chosen = [p for p in watchlist.platforms if not platforms or p in platforms]
    require_config(settings, chosen)
    started_at = datetime.now(UTC)
    layout = settings.layout
    lake = delta_lake_of(layout)
    sweep_warehouse(layout)
    sources = {
        p: build_source(p, settings, throttle_for=throttle_for, logger=logger) for p in chosen
    }
    run_id = run_id or new_run_id(started_at)
    return StartedRun(settings, watchlist, layout, lake, run_id, started_at, sources)


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
