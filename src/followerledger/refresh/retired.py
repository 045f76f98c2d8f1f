"""Mart file versions no catalog names any more: recorded when retired, deleted once readers
of an older catalog have had their grace period."""

from __future__ import annotations

import contextlib
from datetime import datetime

from followerledger.lake import Lake
from followerledger.manifest import BuildManifest
from followerledger.models import DAILY, INCREMENTAL, SNAPSHOT


def listed_keys(state: BuildManifest) -> set[str]:
    """Every mart file the state lists."""
    return {key for keys in state.marts.values() for key in keys}


def retire(
    previous: BuildManifest, state: BuildManifest, listed_before: set[str], now: datetime
) -> None:
    """Record in `state` when each file listed before (`listed_before`) stopped being listed,
    keeping the retirements `previous` recorded."""
    listed = listed_keys(state)
    state.retired = {**previous.retired, **state.retired}
    for key in listed_before - listed:
        state.retired.setdefault(key, now.isoformat())


def delete_retired(marts: Lake, state: BuildManifest, before: datetime) -> bool:
    """Delete mart files no catalog has named since `before`, and files no state names
    at all that are older than that (left by an interrupted refresh); True if any."""
    listed = listed_keys(state)
    deleted = False
    for key, retired_at in list(state.retired.items()):
        if datetime.fromisoformat(retired_at) < before:
            with contextlib.suppress(FileNotFoundError):
                marts.remove(key)
            del state.retired[key]
            deleted = True
    cutoff = before.timestamp() * 1e9
    for model in INCREMENTAL + DAILY + SNAPSHOT:
        for item in marts.list(model.name):
            if item.key not in listed and item.key not in state.retired and item.mtime_ns < cutoff:
                marts.remove(item.key)
    return deleted
