"""Compaction: query times over hourly run files versus compacted daily files, and its cost.

Builds a Delta lake of hourly runs (one version and one file per run), publishes the
catalog, times analyst queries, compacts (delta-rs' optimize per closed day, then vacuum),
and times the same queries again (the baseline is the uncompacted lake, measured in the
same run). Also times the snapshot flow's report step
(`recent.account_changes`: the last two days of the lake) before and after.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from followerledger.catalog import publish
from followerledger.compaction import compact
from followerledger.delta_lake import OBSERVATIONS, delta_lake_of
from followerledger.delta_writer import replace_run
from followerledger.layout import WarehouseLayout
from followerledger.observation import OBSERVATION_SCHEMA
from followerledger.run_changes import account_changes
from followerledger.watchlist import load_watchlist

QUERIES = {
    "followers per day (all history)": (
        "select cast(observed_at as date) as day, sum(followers) from observations "
        "group by all order by all"
    ),
    "latest count per account": (
        "select requested_handle, arg_max(followers, observed_at) from observations group by all"
    ),
    "one account's history": (
        "select observed_at, followers from observations "
        "where requested_handle = 'account7' order by observed_at"
    ),
}
NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)


def _run_table(run_id: str, when: datetime, accounts: int) -> pa.Table:
    hour = int(when.timestamp() // 3600)
    columns = {
        "run_id": [run_id] * accounts,
        "observed_at": [when] * accounts,
        "platform": ["x"] * accounts,
        "handle": [f"account{i}" for i in range(accounts)],
        "account_id": [str(10_000_000 + i) for i in range(accounts)],
        "display_name": [None] * accounts,
        "followers": [1000 + i * 10 + hour % 97 for i in range(accounts)],
        "following": [None] * accounts,
        "posts": [None] * accounts,
        "status": ["ok"] * accounts,
        "detail": [None] * accounts,
        "source": ["api"] * accounts,
        "requested_handle": [f"account{i}" for i in range(accounts)],
        "shard": [None] * accounts,
    }
    return pa.table(columns, schema=OBSERVATION_SCHEMA)


def _best(repeat: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def _fetch_all(connection: duckdb.DuckDBPyConnection, sql: str) -> object:
    return connection.sql(sql).fetchall()


def _query_times(catalog: Path) -> dict[str, float]:
    with duckdb.connect(str(catalog), read_only=True) as connection:
        return {
            name: _best(3, functools.partial(_fetch_all, connection, sql))
            for name, sql in QUERIES.items()
        }


def run(quick: bool = False) -> dict[str, float]:
    """Print and return query times before/after compaction and compaction's own cost."""
    accounts, days = (100, 3) if quick else (2000, 14)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "watchlist.yaml").write_text(
            "brands:\n  Bench:\n    x: ["
            + ", ".join(f"account{i}" for i in range(accounts))
            + "]\n"
        )
        watchlist = load_watchlist(root / "watchlist.yaml")
        warehouse = root / "warehouse"
        layout = WarehouseLayout.at(warehouse)
        lake = delta_lake_of(layout)
        start = (NOW - timedelta(days=days)).replace(hour=0)
        runs = 0
        when = start
        while when <= NOW:
            run_id = f"{when:%Y%m%dT%H%M%SZ}-bench"
            replace_run(
                lake, OBSERVATIONS, "x", run_id, when.date(), _run_table(run_id, when, accounts)
            )
            runs += 1
            when += timedelta(hours=1)
        publish(layout, watchlist)
        last_run = f"{NOW:%Y%m%dT%H%M%SZ}-bench"

        def report_step() -> object:
            return account_changes(layout, watchlist, last_run, NOW)

        before = _query_times(warehouse / "followerledger.duckdb")
        report_before = _best(3, report_step)
        started = time.perf_counter()
        result = compact(layout, watchlist, grace=timedelta(hours=24), clock=lambda: NOW)
        seconds = time.perf_counter() - started
        after = _query_times(warehouse / "followerledger.duckdb")
        report_after = _best(3, report_step)
        per_day = Counter(
            (item.platform, item.day)
            for item in lake.snapshot(OBSERVATIONS).files
            if item.day < NOW.date()
        )

    rows = runs * accounts
    print(
        f"compaction: {rows:,} rows in {runs} hourly files ({accounts:,} accounts, {days} days): "
        f"compacted {result.files_before} files into {result.files_after} in {seconds:.2f} s "
        f"({1000 * seconds / max(result.partitions, 1):.0f} ms per day, "
        f"{result.rows / seconds:,.0f} rows/s)"
    )
    most = max(per_day.values(), default=0)
    print(
        f"compaction: files per platform and closed day afterwards: at most {most} "
        f"over {len(per_day)} closed days (target: 1)"
    )
    figures: dict[str, float] = {
        "rows": rows,
        "compaction_s": seconds,
        "files_per_closed_day_max": most,
    }
    for name in QUERIES:
        ratio = before[name] / after[name]
        figures[f"{name} ratio"] = ratio
        print(
            f"compaction: {name}: {before[name] * 1000:.0f} ms over run files, "
            f"{after[name] * 1000:.0f} ms compacted ({ratio:.1f}x faster)"
        )
    print(
        f"compaction: snapshot report step (last 2 days of the lake): "
        f"{report_before * 1000:.0f} ms before, {report_after * 1000:.0f} ms after"
    )
    return figures
