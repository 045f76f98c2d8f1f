"""The observation: one row per watched account per run, and its explicit Arrow schema."""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Final, Literal

import pyarrow as pa

__all__ = [
    "MAX_COUNT",
    "OBSERVATION_SCHEMA",
    "PARQUET_OPTIONS",
    "STATUSES",
    "Observation",
    "Platform",
    "Source",
    "Status",
    "has_lone_surrogate",
    "repaired",
    "salvaged",
    "to_table",
]

#: A platform's name in the lake; the names are the registry's (`sources/registry.py`), which
#: this lower layer does not import: readers of input check names there.
Platform = str

Status = Literal["ok", "not_found", "suspended", "deactivated", "protected", "hidden", "error"]
STATUSES: Final[tuple[Status, ...]] = (
    "ok",
    "not_found",
    "suspended",
    "deactivated",
    "protected",
    "hidden",
    "error",
)

Source = Literal["api", "import", "emulator"]

#: The largest count (followers, following, posts) a row may carry: beyond any real account,
#: and well inside the lake's int64. Larger values are rejected by every reader of input.
MAX_COUNT: Final = 10**10

#: The lake's contract (DESIGN.md "Observation"). New nullable columns may be appended;
#: readers use `union_by_name` so older files simply lack them.
OBSERVATION_SCHEMA: Final = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("observed_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("platform", pa.string(), nullable=False),
        pa.field("handle", pa.string(), nullable=False),
        pa.field("account_id", pa.string()),
        pa.field("display_name", pa.string()),
        pa.field("followers", pa.int64()),
        pa.field("following", pa.int64()),
        pa.field("posts", pa.int64()),
        pa.field("status", pa.string(), nullable=False),
        pa.field("detail", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        # The handle as written in the watchlist (or the import file): it ties a row to its
        # watchlist entry, and with `account_id` it is the handle -> id mapping kept in the lake.
        pa.field("requested_handle", pa.string()),
        # The shard of the snapshot run that landed the row (`shards.shard_of`); null for
        # imported rows and for rows landed before runs had shards.
        pa.field("shard", pa.int32()),
    ]
)


@dataclasses.dataclass(frozen=True, slots=True)
class Observation:
    """One watched account as seen by one run."""

    run_id: str
    observed_at: datetime
    platform: str
    handle: str
    status: Status
    source: Source
    account_id: str | None = None
    display_name: str | None = None
    followers: int | None = None
    following: int | None = None
    posts: int | None = None
    detail: str | None = None
    requested_handle: str | None = None
    shard: int | None = None


#: How observation files are written: dictionaries only for the few-valued columns, and
#: statistics only where readers filter (writing them for free text costs more than the
#: rest of the file).
PARQUET_OPTIONS: Final[dict[str, list[str]]] = {
    "use_dictionary": ["run_id", "platform", "status", "source", "detail"],
    "write_statistics": ["observed_at", "platform", "account_id", "followers", "status"],
}


def _timestamps(values: list[datetime]) -> pa.Array:
    """Microsecond UTC timestamps; a run's rows share few distinct moments, so each distinct
    moment is converted once."""
    seen: dict[datetime, int] = {}
    micros = []
    for value in values:
        found = seen.get(value)
        if found is None:
            found = seen[value] = round(value.timestamp() * 1_000_000)
        micros.append(found)
    return pa.array(micros, pa.timestamp("us", tz="UTC"))


#: Half of a UTF-16 surrogate pair: a Python string may hold one (JSON's `"\\ud83d"`), UTF-8
#: cannot, so Arrow refuses it.
_LONE_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    """Whether `text` holds half a character that no UTF-8 file can store."""
    return _LONE_SURROGATE.search(text) is not None


def repaired(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, the replacement character."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def to_table(observations: Sequence[Observation] | Iterable[Observation]) -> pa.Table:
    """Observations as an Arrow table with the lake schema."""
    rows = list(observations)
    columns = []
    for field in OBSERVATION_SCHEMA:
        values = list(map(operator.attrgetter(field.name), rows))
        if pa.types.is_timestamp(field.type):
            columns.append(_timestamps(values))
        else:
            columns.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(columns, schema=OBSERVATION_SCHEMA)


def _unstorable_field(row: Observation) -> tuple[str, str] | None:
    """The first field of `row` Arrow cannot convert, and why; None when every one converts."""
    for field in OBSERVATION_SCHEMA:
        value = getattr(row, field.name)
        try:
            if pa.types.is_timestamp(field.type):
                _timestamps([value])
            else:
                pa.array([value], type=field.type)
        except (pa.ArrowException, ValueError, TypeError, OverflowError) as error:
            return field.name, type(error).__name__
    return None


def salvaged(observations: Sequence[Observation]) -> list[Observation]:
    """The rows, each one Arrow cannot convert replaced by an `error` row naming the field.

    The last line of defence of a landing (the row factory refuses bad values first): one
    unstorable value costs its row, never the run's file. The replacement keeps only what
    identifies the row (run, time, platform, requested handle), never the bad value.
    """
    result = []
    for row in observations:
        problem = _unstorable_field(row)
        if problem is None:
            result.append(row)
            continue
        field, reason = problem
        written = repaired(row.requested_handle) if row.requested_handle is not None else None
        result.append(
            Observation(
                run_id=row.run_id,
                observed_at=row.observed_at,
                platform=row.platform,
                handle=written or repaired(row.handle),
                status="error",
                source=row.source,
                detail=f"the row could not be stored: {field!r} holds a value the lake cannot "
                f"take ({reason})",
                requested_handle=written,
            )
        )
    return result
