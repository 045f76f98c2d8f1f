"""The run log: one record per snapshot run, platform and shard, landed in the lake's `run_log`
table beside the rows (`landing.write_run_record`).

It says when the run ran, how many requests and quota units it spent and what it found; the
`runs` mart adds X's estimated cost. Kept in the lake so the warehouse can be rebuilt.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence, Set
from datetime import datetime
from typing import Final

import pyarrow as pa

from followerledger.observation import STATUSES, Observation

__all__ = [
    "DATASET",
    "RUN_LOG_SCHEMA",
    "RunRecord",
    "Usage",
    "combined",
    "from_rows",
    "record_counts",
    "summarize",
]

DATASET: Final = "run_log"

RUN_LOG_SCHEMA: Final = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("platform", pa.string(), nullable=False),
        pa.field("started_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("finished_at", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("requests", pa.int64(), nullable=False),
        pa.field("quota_units", pa.int64()),
        pa.field("accounts", pa.int64(), nullable=False),
        *(pa.field(status, pa.int64(), nullable=False) for status in STATUSES),
        pa.field("source", pa.string(), nullable=False),
        # One record per shard of a run (`shards`); null before runs had shards.
        pa.field("shard", pa.int32()),
        # The credential the shard's requests used, by its label (`X_BEARER_TOKENS[2]`),
        # never its value; null for a platform without one.
        pa.field("credential", pa.string()),
    ]
)


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    """What a source spent in a run: HTTP requests, and quota units where the API counts them."""

    requests: int
    quota_units: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RunRecord:
    """What one run found and spent on one platform."""

    run_id: str
    platform: str
    started_at: datetime
    finished_at: datetime
    requests: int
    quota_units: int | None
    statuses: dict[str, int]
    source: str
    shard: int | None = None
    credential: str | None = None

    @property
    def accounts(self) -> int:
        """Watched accounts the run reported on (one row each)."""
        return sum(self.statuses.values())

    def to_table(self) -> pa.Table:
        """The record as a one-row table with the run-log schema."""
        row: dict[str, object] = {
            "run_id": self.run_id,
            "platform": self.platform,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "requests": self.requests,
            "quota_units": self.quota_units,
            "accounts": self.accounts,
            **{status: self.statuses.get(status, 0) for status in STATUSES},
            "source": self.source,
            "shard": self.shard,
            "credential": self.credential,
        }
        return pa.Table.from_pylist([row], schema=RUN_LOG_SCHEMA)


def summarize(
    run_id: str,
    platform: str,
    started_at: datetime,
    finished_at: datetime,
    observations: Sequence[Observation],
    usage: Usage,
) -> RunRecord:
    """The run record of one platform's rows."""
    return record_counts(
        run_id,
        platform,
        started_at,
        finished_at,
        Counter(row.status for row in observations),
        {row.source for row in observations},
        usage,
    )


def record_counts(
    run_id: str,
    platform: str,
    started_at: datetime,
    finished_at: datetime,
    statuses: Mapping[str, int],
    sources: Set[str],
    usage: Usage,
    *,
    shard: int | None = None,
    credential: str | None = None,
) -> RunRecord:
    """The run record of one platform (or one shard of it) from its rows' counts per status
    and their sources."""
    return RunRecord(
        run_id,
        platform,
        started_at,
        finished_at,
        usage.requests,
        usage.quota_units,
        dict(sorted(statuses.items())),
        "emulator" if sources == {"emulator"} else "api",
        shard,
        credential,
    )


def from_rows(rows: pa.Table) -> list[RunRecord]:
    """Records as the run-log table holds them (rows of `RUN_LOG_SCHEMA`), in table order."""
    return [
        RunRecord(
            row["run_id"],
            row["platform"],
            row["started_at"],
            row["finished_at"],
            row["requests"],
            row["quota_units"],
            dict(sorted((status, row[status]) for status in STATUSES if row[status])),
            row["source"],
            row["shard"],
            row["credential"],
        )
        for row in rows.select(RUN_LOG_SCHEMA.names).to_pylist()
    ]


def combined(records: Sequence[RunRecord]) -> list[RunRecord]:
    """One record per platform from its shards' records (as the `runs` mart sums them): the
    earliest start, the latest finish, requests, quota units and statuses summed; shard and
    credential are None once more than one record is summed."""
    by_platform: dict[str, list[RunRecord]] = {}
    for record in records:
        by_platform.setdefault(record.platform, []).append(record)
    result = []
    for platform, parts in by_platform.items():
        if len(parts) == 1:
            result.append(parts[0])
            continue
        statuses: Counter[str] = Counter()
        for part in parts:
            statuses.update(part.statuses)
        units = [part.quota_units for part in parts if part.quota_units is not None]
        result.append(
            RunRecord(
                parts[0].run_id,
                platform,
                min(part.started_at for part in parts),
                max(part.finished_at for part in parts),
                sum(part.requests for part in parts),
                sum(units) if units else None,
                dict(sorted(statuses.items())),
                "api" if any(part.source == "api" for part in parts) else parts[0].source,
            )
        )
    return result
