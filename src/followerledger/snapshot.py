"""The library half of a snapshot run: plan the batches, fetch them, land the rows.

The Prefect flow in `flows/snapshot.py` only orchestrates these steps (one task per request
batch, retries on I/O, artifacts); each works, and is tested, without Prefect.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from followerledger.lake import Lake, LakeFile, check_run_id, observation_key
from followerledger.observation import PARQUET_OPTIONS, Observation, to_table
from followerledger.sources.base import PlatformSource, Target
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


def interleave(plans: Mapping[str, Sequence[T]]) -> list[tuple[str, T]]:
    """Every platform's batches, taken in turn: (platform, batch) round-robin."""
    queues = [[(platform, batch) for batch in batches] for platform, batches in plans.items()]
    return [item for turn in itertools.zip_longest(*queues) for item in turn if item is not None]


def fetch_batch(source: PlatformSource, batch: Sequence[Target], run_id: str) -> list[Observation]:
    """One request batch -> exactly one observation per target (never raises for API trouble)."""
    return source.fetch(batch, run_id)


def write_observations(
    lake: Lake,
    platform: str,
    run_id: str,
    started_at: datetime,
    observations: Sequence[Observation],
) -> LakeFile:
    """Land one platform's rows of a run as one Parquet file, atomically.

    The file's partition date is the run's UTC start date; re-writing a run id replaces only
    its own file.
    """
    check_run_id(run_id)
    key = observation_key(platform, started_at.date(), run_id)
    return lake.write(key, to_table(observations), PARQUET_OPTIONS)
