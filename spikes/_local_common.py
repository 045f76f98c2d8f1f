"""Shared helpers of the issue-14 `local` spikes: rows in our schema, plus the `date` partition."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from followerledger.observation import OBSERVATION_SCHEMA

#: The Delta table's schema: the observation contract plus the partition date (the run's UTC
#: start date, today only in the path `date=YYYY-MM-DD`).
DELTA_SCHEMA = OBSERVATION_SCHEMA.append(pa.field("date", pa.date32(), nullable=False))
PARTITIONS = ["platform", "date"]


def batch(run_id: str, platform: str, day: date, rows: int, start: int = 0) -> pa.RecordBatch:
    at = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
    n = range(start, start + rows)
    return pa.RecordBatch.from_pydict(
        {
            "run_id": [run_id] * rows,
            "observed_at": [at] * rows,
            "platform": [platform] * rows,
            "handle": [f"h{i}" for i in n],
            "account_id": [str(i) for i in n],
            "display_name": [f"Account {i}" for i in n],
            "followers": list(n),
            "following": [i % 97 for i in n],
            "posts": [i % 1013 for i in n],
            "status": ["ok"] * rows,
            "detail": [None] * rows,
            "source": ["emulator"] * rows,
            "requested_handle": [f"h{i}" for i in n],
            "date": [day] * rows,
        },
        schema=DELTA_SCHEMA,
    )


def rss_mb() -> float:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def data_files(root: str) -> set[str]:
    """Every .parquet under a table root, relative, as the log names them."""
    found = set()
    for d, _, names in os.walk(root):
        if "_delta_log" in d:
            continue
        for n in names:
            if n.endswith(".parquet"):
                found.add(os.path.relpath(os.path.join(d, n), root))
    return found


class Timer:
    def __enter__(self):
        self.t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t


def referenced(dt) -> set[str]:
    """The table's current data files, relative to its root (file_uris gives absolute paths)."""
    root = dt.table_uri.removeprefix("file://").rstrip("/")
    return {os.path.relpath(u.removeprefix("file://"), root) for u in dt.file_uris()}
