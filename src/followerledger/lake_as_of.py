"""The lake as it was at an earlier version or time (`followerledger query --as-of`).

A lake version is a version of the `observations` table (the number its catalog view's
comment and `DeltaTable(...).history()` show); `run_log`, a table with versions of its own, is
read as it stood when that version was committed. A time reads each table as of that time.
The relations read exactly the files of those versions, offline, as the catalog does; the
marts are not versioned and stay as the catalog publishes them.

Parsing an `--as-of` value needs nothing heavy; reading the tables imports deltalake, so only
a query given `--as-of` pays for it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from followerledger.delta_lake import DeltaSnapshot
    from followerledger.layout import WarehouseLayout

__all__ = [
    "ACCEPTED",
    "AsOf",
    "AsOfError",
    "lake_snapshots",
    "lake_views_as_of",
    "parse_as_of",
]

#: A lake version or an aware time.
AsOf = int | datetime

#: The accepted forms, as the error for any other value names them.
ACCEPTED: Final = (
    "a version of the observations table (a whole number, e.g. 12) or an ISO 8601 time "
    "(e.g. 2026-11-30, 2026-11-30T14:00, 2026-11-30T14:00:00+01:00; UTC unless it has an offset)"
)
_VERSION: Final = re.compile(r"[0-9]+")


class AsOfError(ValueError):
    """An `--as-of` value that is not a version or a time, or that the lake cannot answer."""


def parse_as_of(text: str) -> AsOf:
    """A version (digits) or a UTC time from an ISO 8601 date or time (a time without an
    offset is UTC, a date alone is its 00:00 UTC); AsOfError naming the accepted forms."""
    value = text.strip()
    if _VERSION.fullmatch(value):
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise AsOfError(f"expected {ACCEPTED}") from None
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def lake_snapshots(layout: WarehouseLayout, as_of: AsOf) -> tuple[DeltaSnapshot, DeltaSnapshot]:
    """The observations and run-log tables as of a lake version or a time.

    AsOfError when the lake has no observations version then: a version it does not have,
    a time before its first version, or no table yet. The run log had no version yet at
    that moment reads as empty, which it then was.
    """
    from deltalake.exceptions import DeltaError

    from followerledger.delta_lake import OBSERVATIONS, RUN_LOG, DeltaLakeError, delta_lake_of

    lake = delta_lake_of(layout)
    try:
        if isinstance(as_of, int):
            observations = lake.snapshot(OBSERVATIONS, version=as_of)
            if observations.version is None:
                raise AsOfError(f"the lake has no {OBSERVATIONS.name} table, so no version {as_of}")
            moment = lake.commit_time(OBSERVATIONS, observations.version)
        else:
            observations = lake.snapshot(OBSERVATIONS, as_of=as_of)
            if observations.version is None:
                raise AsOfError(
                    f"the lake has no version of {OBSERVATIONS.name} at or before "
                    f"{as_of.isoformat()} (its table did not exist yet)"
                )
            moment = as_of
        run_log = lake.snapshot(RUN_LOG, as_of=moment)
    except (DeltaLakeError, DeltaError) as error:
        lines = str(error).strip().splitlines()
        raise AsOfError(lines[0] if lines else type(error).__name__) from None
    return observations, run_log


def lake_views_as_of(layout: WarehouseLayout, as_of: AsOf) -> dict[str, str]:
    """Each lake view's name and the SQL reading its table as of `as_of` (exact files,
    offline); AsOfError as `lake_snapshots`."""
    from followerledger.models.duckdb_sql import snapshot_relation

    return {
        snapshot.dataset.name: snapshot_relation(snapshot)
        for snapshot in lake_snapshots(layout, as_of)
    }
