"""Readers never block writers and writers never block readers (DESIGN principle 5)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from followerledger import landing
from followerledger.catalog import publish
from followerledger.delta_lake import DeltaLake
from followerledger.layout import WarehouseLayout
from followerledger.observation import Observation
from followerledger.refresh import refresh
from followerledger.watchlist import load_watchlist
from tests.analyst import AnalystSession

WATCHLIST = "brands:\n  Alpha:\n    x: [alpha]\n"
START = datetime(2026, 11, 1, tzinfo=UTC)


def land_run(lake: DeltaLake, index: int) -> None:
    when = START + timedelta(hours=index)
    row = Observation(
        run_id=f"run-{index:03d}",
        observed_at=when,
        platform="x",
        handle="alpha",
        status="ok",
        source="api",
        account_id="1",
        followers=1000 + index,
        requested_handle="alpha",
    )
    landing.write_observations(lake, "x", f"run-{index:03d}", when, [row])


def test_the_catalog_opens_in_the_pinned_duckdb_cli(tmp_path: Path) -> None:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST)
    lake = DeltaLake(tmp_path / "warehouse/lake")
    land_run(lake, 0)
    refresh(
        WarehouseLayout.at(tmp_path / "warehouse", lake.root),
        load_watchlist(tmp_path / "watchlist.yaml"),
    )
    with AnalystSession(tmp_path / "warehouse/followerledger.duckdb") as analyst:
        assert analyst.ask("select followers from daily_followers limit 1") == "1000"
        assert analyst.ask("select version()").startswith("v1.5")


def test_an_open_analyst_session_does_not_block_snapshot_or_refresh(tmp_path: Path) -> None:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST)
    watchlist = load_watchlist(tmp_path / "watchlist.yaml")
    warehouse = tmp_path / "warehouse"
    lake = DeltaLake(warehouse / "lake")
    land_run(lake, 0)
    refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
    with AnalystSession(warehouse / "followerledger.duckdb") as analyst:
        assert analyst.ask("select count(*) from observations") == "1"
        land_run(lake, 1)
        publish(
            WarehouseLayout.at(warehouse, lake.root), watchlist
        )  # what a snapshot does after landing
        refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
        refresh(WarehouseLayout.at(warehouse, lake.root), watchlist, full=True)
        # The open session keeps the snapshot it opened; nothing failed on either side.
        assert analyst.ask("select count(*) from observations") == "1"
    with AnalystSession(warehouse / "followerledger.duckdb") as fresh:
        assert fresh.ask("select count(*) from observations") == "2"
        assert fresh.ask("select max(followers) from daily_followers") == "1001"


READER = textwrap.dedent("""
    import sys, time, duckdb
    path, stop = sys.argv[1], sys.argv[2]
    errors, reads, last = 0, 0, 0
    import os
    while not os.path.exists(stop):
        try:
            with duckdb.connect(path, read_only=True) as connection:
                count = connection.sql("select count(*) from observations").fetchall()[0][0]
                connection.sql("select count(*) from daily_followers").fetchall()
            if count < last:
                errors += 1
                print("went back", count, last, file=sys.stderr)
            last = count
            reads += 1
        except Exception as error:
            errors += 1
            print(repr(error), file=sys.stderr)
        # Still dozens of opens per refresh, without spinning a core the refreshes need.
        time.sleep(0.02)
    print(reads, errors, last)
""")


def test_readers_opening_during_refreshes_never_fail(tmp_path: Path) -> None:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST)
    watchlist = load_watchlist(tmp_path / "watchlist.yaml")
    warehouse = tmp_path / "warehouse"
    lake = DeltaLake(warehouse / "lake")
    land_run(lake, 0)
    refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(warehouse / "followerledger.duckdb"), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for index in range(1, 25):
            land_run(lake, index)
            publish(WarehouseLayout.at(warehouse, lake.root), watchlist)
            refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
    finally:
        stop.touch()
        out, err = reader.communicate(timeout=60)
    reads, errors, last = (int(value) for value in out.split())
    print(f"{reads} reads beside 24 refreshes")
    assert errors == 0, err
    assert reads > 10
    assert last == 25


def test_mart_files_are_never_overwritten_and_retire_after_the_grace(tmp_path: Path) -> None:
    from followerledger.manifest import ManifestStore

    (tmp_path / "watchlist.yaml").write_text(WATCHLIST)
    watchlist = load_watchlist(tmp_path / "watchlist.yaml")
    warehouse = tmp_path / "warehouse"
    lake = DeltaLake(warehouse / "lake")
    land_run(lake, 0)
    refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
    first = {
        key
        for keys in ManifestStore(WarehouseLayout.at(warehouse)).load().marts.values()
        for key in keys
    }
    stamps = {key: (warehouse / "marts" / key).stat().st_mtime_ns for key in first}
    land_run(lake, 1)
    refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
    state = ManifestStore(WarehouseLayout.at(warehouse)).load()
    second = {key for keys in state.marts.values() for key in keys}
    # New versions beside the old ones: what the first catalog names is still there, unchanged.
    assert first - second
    assert set(state.retired) == first - second
    for key in first:
        assert (warehouse / "marts" / key).stat().st_mtime_ns == stamps[key]
    # Past the grace period the retired versions go, and only they (this refresh retires the
    # snapshot models' versions it replaces, which wait for their own grace period).
    later = datetime.now(UTC) + timedelta(hours=25)
    refresh(WarehouseLayout.at(warehouse, lake.root), watchlist, clock=lambda: later)
    state = ManifestStore(WarehouseLayout.at(warehouse)).load()
    assert not set(state.retired) & (first - second)
    assert all(value == later.isoformat() for value in state.retired.values())
    on_disk = {
        str(path.relative_to(warehouse / "marts"))
        for path in (warehouse / "marts").rglob("*.parquet")
    }
    assert on_disk == {key for keys in state.marts.values() for key in keys} | set(state.retired)
    assert not (first - second) & on_disk
