"""The run log: one record per snapshot run and platform, landed in the lake's `run_log`
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
        # The shard of the run the record is of (null: a run landed whole), and the label
        # of the credential it sent (`X_BEARER_TOKENS[2]`; null for a platform without one).
        pa.field("shard", pa.int32()),
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
    """What one run (or one shard of it) found and spent on one platform, and with which
    credential (its label, never the value)."""

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
    credential: str | None = None,
) -> RunRecord:
    """The run record of one platform from its rows' counts per status and their sources,
    and the label of the credential that fetched them."""
    return RunRecord(
        run_id,
        platform,
        started_at,
        finished_at,
        usage.requests,
        usage.quota_units,
        dict(sorted(statuses.items())),
        "emulator" if sources == {"emulator"} else "api",
        credential=credential,
    )
