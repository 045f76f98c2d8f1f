"""Compaction on the Delta lake, through the catalog: identical results before and after,
refresh recomputes nothing, safe beside snapshots and readers, vacuum with the reader grace.

These tests need the catalog and refresh reading the Delta lake (issue 14's switch)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from followerledger.catalog import publish
from followerledger.cli import main
from followerledger.compaction import compact
from followerledger.delta_lake import DATASETS, OBSERVATIONS, DeltaLake, delta_lake_of
from followerledger.landing import Landing, write_run_record
from followerledger.layout import WarehouseLayout
from followerledger.manifest import ManifestStore
from followerledger.observation import Observation
from followerledger.refresh import refresh
from followerledger.run_log import Usage
from followerledger.watchlist import Watchlist, load_watchlist
from tests.analyst import AnalystSession

WATCHLIST = """\
brands:
  Alpha:
    x: [alpha, gamma]
    bluesky: [alpha.test]
"""
ACCOUNTS = {"x": ["alpha", "gamma"], "bluesky": ["alpha.test"]}
#: "Now" for every test: days before 2026-11-10 are closed.
NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
DAY = timedelta(days=1)
GRACE = timedelta(hours=24)

QUERIES = (
    "select * from observations order by all",
    "select * from daily_followers order by all",
    "select * from accounts order by all",
    "select platform, count(*), sum(followers) from observations group by all order by all",
)


def land_run(lake: DeltaLake, when: datetime, run_id: str, platforms: tuple[str, ...] = ()) -> int:
    """One hourly snapshot run of every account (or of `platforms`), as the snapshot flow
    lands it: per platform its rows and its run record. Returns the rows landed (both)."""
    rows = 0
    for platform, handles in ACCOUNTS.items():
        if platforms and platform not in platforms:
            continue
        landing = Landing(lake, platform, run_id, when)
        landing.add(
            [
                Observation(
                    run_id=run_id,
                    observed_at=when,
                    platform=platform,
                    handle=handle,
                    status="ok",
                    source="api",
                    account_id=f"{platform}-{handle}",
                    followers=1000 * (index + 1) + int(when.timestamp() // 3600) % 97,
                    requested_handle=handle,
                )
                for index, handle in enumerate(handles)
            ]
        )
        write_run_record(lake, landing.record(Usage(requests=1), when + timedelta(minutes=1)))
        landing.commit()
        rows += len(handles) + 1
    return rows


def land_days(lake: DeltaLake, first: datetime, days: int, runs_per_day: int) -> int:
    rows = 0
    for day in range(days):
        for run in range(runs_per_day):
            when = first + day * DAY + timedelta(hours=run * (24 // runs_per_day))
            rows += land_run(lake, when, f"{when:%Y%m%dT%H%M%SZ}-run")
    return rows


def answers(catalog: Path) -> list[list[Any]]:
    with duckdb.connect(str(catalog), read_only=True) as connection:
        return [connection.sql(query).fetchall() for query in QUERIES]


def partitions(lake: DeltaLake) -> Counter[tuple[str, str, date]]:
    """Files per (dataset, platform, day) at the tables' latest versions."""
    return Counter(
        (dataset.name, file.platform, file.day)
        for dataset in DATASETS
        for file in lake.snapshot(dataset).files
    )


def on_disk(lake: DeltaLake) -> set[str]:
    """Every data file under the lake's tables (their logs aside)."""
    return {
        str(path)
        for dataset in DATASETS
        for path in Path(lake.table_uri(dataset)).rglob("*.parquet")
        if "_delta_log" not in path.parts
    }


def named(lake: DeltaLake) -> set[str]:
    """The data files the tables' latest versions name."""
    return {file.path for dataset in DATASETS for file in lake.snapshot(dataset).files}


@pytest.fixture
def warehouse(tmp_path: Path) -> tuple[Path, DeltaLake, Watchlist]:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    warehouse = tmp_path / "warehouse"
    lake = delta_lake_of(WarehouseLayout.at(warehouse))
    return warehouse, lake, load_watchlist(tmp_path / "watchlist.yaml")


def test_queries_are_identical_and_refresh_recomputes_nothing(
    warehouse: tuple[Path, DeltaLake, Watchlist],
) -> None:
    root, lake, watchlist = warehouse
    layout = WarehouseLayout.at(root)
    land_days(lake, NOW - 3 * DAY - timedelta(hours=12), days=3, runs_per_day=4)
    land_run(lake, NOW - timedelta(hours=2), "today-1")  # today's partition stays open
    land_run(lake, datetime(2026, 11, 8, 23, tzinfo=UTC), "late-1", ("x",))  # one more on x
    refresh(layout, watchlist)
    before = answers(root / "followerledger.duckdb")
    files_before = on_disk(lake)
    counts = partitions(lake)
    closed = {key: n for key, n in counts.items() if key[2] < NOW.date()}
    closed_rows = sum(
        file.rows
        for dataset in DATASETS
        for file in lake.snapshot(dataset).files
        if file.day < NOW.date()
    )

    report = compact(layout, watchlist, grace=GRACE, clock=lambda: NOW)

    # 3 closed days x 2 platforms x 2 datasets, one with the late run's files as well.
    assert (report.partitions, report.files_before, report.files_after) == (
        len(closed),
        sum(closed.values()),
        len(closed),
    )
    assert report.rows == closed_rows
    assert report.files_vacuumed == 0
    assert answers(root / "followerledger.duckdb") == before
    assert partitions(lake) == {key: (1 if key[2] < NOW.date() else n) for key, n in counts.items()}
    # Within the grace period every original is still on disk for older catalogs.
    assert files_before <= on_disk(lake)
    state = ManifestStore(layout).load()
    versions = {d.name: lake.snapshot(d).version for d in DATASETS}
    assert state.lake_versions == versions

    incremental = refresh(layout, watchlist)
    assert (incremental.new_files, incremental.days_recomputed) == (0, 0)
    assert answers(root / "followerledger.duckdb") == before
    refresh(layout, watchlist, full=True)
    assert answers(root / "followerledger.duckdb") == before
    # An outside reader (Polars through the log) counts exactly the warehouse's rows, while
    # a glob of the folders would also count the originals still on disk.
    with duckdb.connect(str(root / "followerledger.duckdb"), read_only=True) as catalog:
        for dataset in DATASETS:
            [(counted,)] = catalog.sql(f"select count(*) from {dataset.name}").fetchall()
            scanned = pl.scan_delta(lake.table_uri(dataset)).select(pl.len()).collect().item()
            assert scanned == counted > 0
    globbed = sum(pq.read_metadata(path).num_rows for path in on_disk(lake))
    assert globbed > sum(lake.snapshot(dataset).rows for dataset in DATASETS)

    current = partitions(lake)
    again = compact(layout, watchlist, grace=GRACE, clock=lambda: NOW)
    assert (again.partitions, again.files_before, again.files_vacuumed) == (0, 0, 0)
    assert partitions(lake) == current


def test_originals_stay_through_the_grace_and_go_with_a_grace_of_0(
    warehouse: tuple[Path, DeltaLake, Watchlist],
) -> None:
    root, lake, watchlist = warehouse
    layout = WarehouseLayout.at(root)
    land_days(lake, NOW - 2 * DAY - timedelta(hours=12), days=1, runs_per_day=3)
    publish(layout, watchlist)
    catalog = root / "followerledger.duckdb"
    landed = lake.snapshot(OBSERVATIONS).rows
    originals = named(lake)
    with AnalystSession(catalog) as analyst:
        assert analyst.ask("select count(*) from observations") == str(landed)
        first = compact(layout, watchlist, grace=GRACE, clock=lambda: NOW)
        assert first.partitions > 0
        # The retention is measured by delta-rs on the real clock: `clock` moving on a day
        # past the grace deletes nothing, since compaction removed the originals just now.
        later = compact(layout, watchlist, grace=GRACE, clock=lambda: NOW + GRACE + DAY)
        assert later.files_vacuumed == 0
        # The session still reads the catalog it opened, whose files are all still there.
        assert analyst.ask("select count(*) from observations") == str(landed)
    before = answers(catalog)
    assert originals <= on_disk(lake)

    last = compact(layout, watchlist, grace=timedelta(0), clock=lambda: NOW)

    assert last.files_vacuumed == len(originals - named(lake))
    assert on_disk(lake) == named(lake)
    assert answers(catalog) == before
    assert compact(layout, watchlist, grace=timedelta(0), clock=lambda: NOW).files_vacuumed == 0


def test_a_file_landing_in_a_compacted_day_is_compacted_next_time(
    warehouse: tuple[Path, DeltaLake, Watchlist],
) -> None:
    root, lake, watchlist = warehouse
    layout = WarehouseLayout.at(root)
    land_days(lake, NOW - 2 * DAY - timedelta(hours=12), days=1, runs_per_day=2)
    compact(layout, watchlist, grace=GRACE, clock=lambda: NOW)
    land_run(lake, datetime(2026, 11, 8, 22, tzinfo=UTC), "late-1", ("x",))
    refresh(layout, watchlist)
    before = answers(root / "followerledger.duckdb")
    assert len(before[0]) == 2 * 3 + 2

    report = compact(layout, watchlist, grace=GRACE, clock=lambda: NOW)

    # x on 2026-11-08 in both tables: the compacted file and the late run's.
    assert (report.partitions, report.files_before, report.files_after) == (2, 4, 2)
    assert answers(root / "followerledger.duckdb") == before
    assert set(partitions(lake).values()) == {1}
    assert refresh(layout, watchlist).days_recomputed == 0


def test_an_interrupted_compaction_is_complete_or_invisible_and_state_is_only_a_cache(
    warehouse: tuple[Path, DeltaLake, Watchlist], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, lake, watchlist = warehouse
    layout = WarehouseLayout.at(root)
    land_days(lake, NOW - 2 * DAY - timedelta(hours=12), days=1, runs_per_day=3)
    refresh(layout, watchlist)
    before = answers(root / "followerledger.duckdb")

    def crash(self: ManifestStore, state: object) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(ManifestStore, "save", crash)
        with pytest.raises(OSError, match="disk full"):
            compact(layout, watchlist, grace=GRACE, clock=lambda: NOW)
    # The OPTIMIZE versions committed but nothing was recorded: the log alone says which
    # files are current, so every reader sees the originals or the merged files.
    publish(layout, watchlist)
    assert answers(root / "followerledger.duckdb") == before
    assert set(partitions(lake).values()) == {1}
    assert compact(layout, watchlist, grace=GRACE, clock=lambda: NOW).partitions == 0
    # Refresh had not learnt the swap: it sees the merged files as new and recomputes.
    assert refresh(layout, watchlist).new_files > 0
    assert answers(root / "followerledger.duckdb") == before

    # Originals vacuumed and the state lost: the log still says what is what.
    compact(layout, watchlist, grace=timedelta(0), clock=lambda: NOW)
    assert on_disk(lake) == named(lake)
    shutil.rmtree(root / "_state")
    refresh(layout, watchlist, full=True)
    assert answers(root / "followerledger.duckdb") == before


WRITER = textwrap.dedent("""
    import os, sys
    from datetime import datetime, timedelta, timezone
    from pathlib import Path
    from followerledger.catalog import publish
    from followerledger.delta_lake import delta_lake_of
    from followerledger.layout import WarehouseLayout
    from followerledger.watchlist import load_watchlist
    from tests.test_compaction import land_run
    root, stop, start = Path(sys.argv[1]), sys.argv[2], datetime.fromisoformat(sys.argv[3])
    layout = WarehouseLayout.at(root)
    lake, watchlist = delta_lake_of(layout), load_watchlist(Path(sys.argv[4]))
    rows = runs = 0
    while not os.path.exists(stop) or runs < 3:
        rows += land_run(lake, start + timedelta(seconds=runs), f"live-{runs:04d}")
        publish(layout, watchlist)
        runs += 1
    print(rows)
""")

READER = textwrap.dedent("""
    import os, sys, duckdb
    path, stop = sys.argv[1], sys.argv[2]
    errors = reads = last = 0
    while not os.path.exists(stop) or reads < 3:
        try:
            with duckdb.connect(path, read_only=True) as connection:
                count, distinct = connection.sql(
                    "select count(*), count(distinct (run_id, platform, requested_handle)) "
                    "from observations"
                ).fetchall()[0]
            if count != distinct or count < last:
                errors += 1
                print("counted", count, "distinct", distinct, "before", last, file=sys.stderr)
            last = count
            reads += 1
        except Exception as error:
            errors += 1
            print(repr(error), file=sys.stderr)
    print(reads, errors)
""")


def test_compaction_beside_a_landing_snapshot_and_a_reader(
    warehouse: tuple[Path, DeltaLake, Watchlist], tmp_path: Path
) -> None:
    root, lake, watchlist = warehouse
    layout = WarehouseLayout.at(root)
    landed = land_days(lake, (NOW - 8 * DAY).replace(hour=0), days=2, runs_per_day=6)
    publish(layout, watchlist)
    stop = tmp_path / "stop"
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), str(stop), NOW.isoformat(),
         str(tmp_path / "watchlist.yaml")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
    )  # fmt: skip
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(root / "followerledger.duckdb"), str(stop)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        merged = 0
        for round_ in range(4):
            # Another closed day's worth of runs lands (a backfill), then compaction runs.
            first = (NOW - (6 - round_) * DAY).replace(hour=0)
            landed += land_days(lake, first, days=1, runs_per_day=6)
            merged += compact(layout, watchlist, grace=GRACE, clock=lambda: NOW).rows
    finally:
        stop.touch()
        written, writer_errors = writer.communicate(timeout=120)
        read, reader_errors = reader.communicate(timeout=120)
    assert writer.returncode == 0, writer_errors
    reads, errors = (int(value) for value in read.split())
    assert errors == 0, reader_errors
    assert reads >= 3
    print("reads", reads, "live rows", written)
    assert merged == landed  # every closed-day row (observations and run log) merged once
    with duckdb.connect(str(root / "followerledger.duckdb"), read_only=True) as connection:
        total = connection.sql("select count(*) from observations").fetchall()[0][0]
        records = connection.sql("select count(*) from run_log").fetchall()[0][0]
    assert total + records == landed + int(written)


def test_the_compact_command(
    warehouse: tuple[Path, DeltaLake, Watchlist], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, lake, _ = warehouse
    landed = land_days(lake, (NOW - 3 * DAY).replace(hour=0), days=1, runs_per_day=2)
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(root))
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(tmp_path / "watchlist.yaml"))
    result = CliRunner().invoke(main, ["compact", "--grace-hours", "0"])
    assert result.exit_code == 0, result.output
    # 2 platforms x 2 tables, each of 2 runs' files; the 8 originals vacuumed.
    assert result.output.startswith(
        f"compaction: 4 partitions compacted from 8 files into 4 ({landed} rows); "
        "8 unreferenced files older than 0 h vacuumed"
    )
    assert on_disk(lake) == named(lake)
    assert set(partitions(lake).values()) == {1}
