"""The arithmetic and counting the benchmarks' figures rest on: a snapshot's ideal time,
the Prefect rows a run writes, the generated watchlist and its ids."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from bench import prefect_rows
from bench.snapshot_scale import handle_of, ideal_seconds, write_ids, write_watchlist

from followerledger.emulator import EmulatorState
from followerledger.identity import known_identities
from followerledger.layout import WarehouseLayout
from followerledger.watchlist import load_watchlist


def test_the_ideal_is_the_slowest_platform_over_concurrency_and_shards() -> None:
    requests = {"x": 25, "bluesky": 100}
    assert ideal_seconds(requests, 0.05, 4, 1) == pytest.approx(100 * 0.05 / 4)
    assert ideal_seconds(requests, 0.05, 4, 8) == pytest.approx(100 * 0.05 / 32)
    assert ideal_seconds({}, 0.05, 4, 1) == 0.0


def _prefect_database(path: Path, rows: dict[str, int]) -> None:
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        for table in prefect_rows.TABLES:
            connection.execute(f'create table "{table}" (id integer)')
            connection.executemany(
                f'insert into "{table}" values (?)', [(i,) for i in range(rows.get(table, 0))]
            )


def test_prefect_rows_are_counted_read_only_and_differenced(tmp_path: Path) -> None:
    database = tmp_path / "prefect.db"
    _prefect_database(database, {"task_run": 3, "log": 5})
    before = prefect_rows.settled_rows(database, quiet=0.01)
    with contextlib.closing(sqlite3.connect(database)) as connection, connection:
        connection.executemany('insert into "task_run" values (?)', [(1,), (2,)])
    after = prefect_rows.count_rows(database)
    assert prefect_rows.written(before, after) == {
        label: 2 if label == "task runs" else 0 for label in prefect_rows.TABLES.values()
    }
    read_only = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            read_only.execute('insert into "log" values (1)')
    finally:
        read_only.close()


def test_a_server_without_a_local_database_is_not_counted(tmp_path: Path) -> None:
    assert prefect_rows.database_of(None) is None
    assert prefect_rows.database_of(tmp_path) is None
    _prefect_database(tmp_path / "prefect.db", {})
    assert prefect_rows.database_of(tmp_path) == tmp_path / "prefect.db"


def test_prefect_rows_are_set_beside_todays() -> None:
    rows = dict.fromkeys(prefect_rows.TABLES.values(), 0)
    rows.update({"task runs": 11, "task-run states": 33, "log rows": 25, "events": 70})
    same_size = prefect_rows.describe(prefect_rows.TODAY_ACCOUNTS, rows, quick=False)
    assert f"task runs {11 / prefect_rows.TODAY['task runs']:.3f}x" in same_size
    other = prefect_rows.describe(1_000, rows, quick=True)
    today_rate = prefect_rows.TODAY["task runs"] / prefect_rows.TODAY_ACCOUNTS * 1000
    assert f"task runs per 1,000 accounts 11.00 vs {today_rate:.2f}" in other
    assert "not comparable" in other


def test_the_generated_ids_are_the_ones_a_run_reads_by(tmp_path: Path) -> None:
    counts = {"x": 120, "bluesky": 30, "mastodon": 45, "youtube": 51}
    write_watchlist(tmp_path / "watchlist.yaml", counts)
    watchlist = load_watchlist(tmp_path / "watchlist.yaml")
    assert {p: len(watchlist.for_platform(p)) for p in counts} == counts
    layout = WarehouseLayout.at(tmp_path / "warehouse")
    write_ids(layout, counts, datetime(2026, 11, 30, 12, tzinfo=UTC))
    identities = known_identities(layout)
    assert len(identities) == sum(counts.values())
    watched = {(a.platform, a.handle.lstrip("@").lower()) for a in watchlist.accounts}
    assert set(identities) == watched
    # The emulator that knows the watchlist answers each id for its account.
    emulator = EmulatorState()
    emulator.preload_watchlist(watchlist)
    for account in watchlist.accounts:
        stored = identities[(account.platform, account.handle.lstrip("@").lower())]
        raw = stored.partition(":")[2] if account.platform == "mastodon" else stored
        assert emulator.original_for(account.platform, raw) == account.handle
    assert identities[("mastodon", handle_of("mastodon", 7))].startswith("m.ex:")
