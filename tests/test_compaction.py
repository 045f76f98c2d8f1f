"""Compaction: identical results before and after, crash-safe, safe beside snapshots and readers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from followerledger import landing
from followerledger.catalog import publish
from followerledger.cli import main
from followerledger.compaction import compact
from followerledger.history_import import import_history
from followerledger.lake import Lake, check_run_id, is_compacted
from followerledger.layout import WarehouseLayout
from followerledger.manifest import BuildManifest, ManifestStore
from followerledger.observation import Observation
from followerledger.refresh import refresh
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


def land_run(lake: Lake, when: datetime, run_id: str) -> int:
    """One hourly snapshot run of every account (what the snapshot flow lands)."""
    rows = 0
    for platform, handles in ACCOUNTS.items():
        batch = [
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
        landing.write_observations(lake, platform, run_id, when, batch)
        rows += len(batch)
    return rows


def land_days(lake: Lake, first: datetime, days: int, runs_per_day: int) -> int:
    rows = 0
    for day in range(days):
        for run in range(runs_per_day):
            when = first + day * DAY + timedelta(hours=run * (24 // runs_per_day))
            rows += land_run(lake, when, f"{when:%Y%m%dT%H%M%SZ}-run")
    return rows


def write_csv(path: Path, day: str, followers: int) -> Path:
    path.write_text(
        "observed_at,platform,handle,followers\n"
        f"{day}T06:30:00Z,x,alpha,{followers}\n"
        f"{day}T07:30:00Z,x,gamma,{followers + 5}\n",
        encoding="utf-8",
    )
    return path


def answers(catalog: Path) -> list[list[Any]]:
    with duckdb.connect(str(catalog), read_only=True) as connection:
        return [connection.sql(query).fetchall() for query in QUERIES]


@pytest.fixture
def warehouse(tmp_path: Path) -> tuple[Path, Lake, Watchlist]:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    warehouse = tmp_path / "warehouse"
    return warehouse, Lake(warehouse / "lake"), load_watchlist(tmp_path / "watchlist.yaml")


def test_queries_are_identical_and_refresh_recomputes_nothing(
    warehouse: tuple[Path, Lake, Watchlist], tmp_path: Path
) -> None:
    root, lake, watchlist = warehouse
    land_days(lake, NOW - 3 * DAY - timedelta(hours=12), days=3, runs_per_day=4)
    land_run(lake, NOW - timedelta(hours=2), "today-1")  # today's partition stays open
    import_history(
        write_csv(tmp_path / "h.csv", "2026-11-08", 500),
        WarehouseLayout.at(root, lake.root),
        clock=lambda: NOW,
    )
    refresh(WarehouseLayout.at(root, lake.root), watchlist)
    before = answers(root / "followerledger.duckdb")
    files_before = lake.list()

    report = compact(WarehouseLayout.at(root, lake.root), watchlist, grace=GRACE, clock=lambda: NOW)

    # 3 closed days x 2 platforms, one of them with the imported file as well.
    assert (report.partitions, report.files_merged, report.files_deleted) == (6, 25, 0)
    assert report.rows == 3 * 4 * 3 + 2
    assert answers(root / "followerledger.duckdb") == before
    current = ManifestStore(WarehouseLayout.at(root)).load().current(lake, "observations")
    assert sorted((f.platform, f.day.isoformat(), is_compacted(f.key)) for f in current) == [
        ("bluesky", "2026-11-07", True),
        ("bluesky", "2026-11-08", True),
        ("bluesky", "2026-11-09", True),
        ("bluesky", "2026-11-10", False),
        ("x", "2026-11-07", True),
        ("x", "2026-11-08", True),
        ("x", "2026-11-09", True),
        ("x", "2026-11-10", False),
    ]
    # Within the grace period every original is still on disk for older catalogs.
    assert {f.key for f in files_before} <= {f.key for f in lake.list()}

    incremental = refresh(WarehouseLayout.at(root, lake.root), watchlist)
    assert (incremental.new_files, incremental.days_recomputed) == (0, 0)
    assert answers(root / "followerledger.duckdb") == before
    refresh(WarehouseLayout.at(root, lake.root), watchlist, full=True)
    assert answers(root / "followerledger.duckdb") == before

    again = compact(WarehouseLayout.at(root, lake.root), watchlist, grace=GRACE, clock=lambda: NOW)
    assert (again.partitions, again.files_merged) == (0, 0)
    assert ManifestStore(WarehouseLayout.at(root)).load().current(lake, "observations") == current


def test_originals_go_only_after_the_grace_period_and_stay_superseded(
    warehouse: tuple[Path, Lake, Watchlist], tmp_path: Path
) -> None:
    root, lake, watchlist = warehouse
    land_days(lake, NOW - 2 * DAY - timedelta(hours=12), days=1, runs_per_day=3)
    history = write_csv(tmp_path / "h.csv", "2026-11-08", 700)
    import_history(history, WarehouseLayout.at(root, lake.root), clock=lambda: NOW)
    publish(WarehouseLayout.at(root, lake.root), watchlist)
    catalog = root / "followerledger.duckdb"
    with AnalystSession(catalog) as analyst:
        assert analyst.ask("select count(*) from observations") == "11"
        compact(WarehouseLayout.at(root, lake.root), watchlist, grace=GRACE, clock=lambda: NOW)
        later = compact(
            WarehouseLayout.at(root, lake.root),
            watchlist,
            grace=GRACE,
            clock=lambda: NOW + GRACE / 2,
        )
        assert later.files_deleted == 0
        # The session still reads the catalog it opened, whose files are all still there.
        assert analyst.ask("select count(*) from observations") == "11"
    before = answers(catalog)
    last = compact(
        WarehouseLayout.at(root, lake.root), watchlist, grace=GRACE, clock=lambda: NOW + GRACE + DAY
    )
    assert last.files_deleted == 7  # x: 3 runs and the import; bluesky: 3 runs
    assert all(is_compacted(f.key) for f in lake.list())
    assert answers(catalog) == before
    # Importing the same file again re-creates a superseded original: it never counts twice.
    import_history(history, WarehouseLayout.at(root, lake.root), clock=lambda: NOW)
    publish(WarehouseLayout.at(root, lake.root), watchlist)
    assert answers(catalog) == before


def test_a_file_landing_in_a_compacted_day_is_merged_next_time(
    warehouse: tuple[Path, Lake, Watchlist], tmp_path: Path
) -> None:
    root, lake, watchlist = warehouse
    land_days(lake, NOW - 2 * DAY - timedelta(hours=12), days=1, runs_per_day=2)
    early = write_csv(tmp_path / "early.csv", "2026-11-08", 500)
    import_history(early, WarehouseLayout.at(root, lake.root), clock=lambda: NOW)
    compact(WarehouseLayout.at(root, lake.root), watchlist, grace=GRACE, clock=lambda: NOW)
    import_history(
        write_csv(tmp_path / "late.csv", "2026-11-08", 900),
        WarehouseLayout.at(root, lake.root),
        clock=lambda: NOW,
    )
    publish(WarehouseLayout.at(root, lake.root), watchlist)
    before = answers(root / "followerledger.duckdb")
    assert len(before[0]) == 2 * 3 + 2 + 2

    report = compact(WarehouseLayout.at(root, lake.root), watchlist, grace=GRACE, clock=lambda: NOW)

    assert (report.partitions, report.files_merged) == (1, 2)  # x: merged file + late import
    assert answers(root / "followerledger.duckdb") == before
    current = ManifestStore(WarehouseLayout.at(root)).load().current(lake, "observations")
    assert len(current) == 2
    assert all(is_compacted(f.key) for f in current)
    # With the state lost (so both merged files are learnt from their footers) and every
    # superseded file deleted, the early file imported again is known to be inside the
    # newest merged file: it does not count twice.
    shutil.rmtree(root / "_state")
    assert (
        compact(
            WarehouseLayout.at(root, lake.root), watchlist, grace=GRACE, clock=lambda: NOW + DAY
        ).files_deleted
        == 7
    )
    import_history(early, WarehouseLayout.at(root, lake.root), clock=lambda: NOW)
    publish(WarehouseLayout.at(root, lake.root), watchlist)
    assert answers(root / "followerledger.duckdb") == before


def test_an_interrupted_compaction_is_complete_or_invisible_and_state_is_only_a_cache(
    warehouse: tuple[Path, Lake, Watchlist], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, lake, watchlist = warehouse
    land_days(lake, NOW - 2 * DAY - timedelta(hours=12), days=1, runs_per_day=3)
    refresh(WarehouseLayout.at(root, lake.root), watchlist)
    before = answers(root / "followerledger.duckdb")

    def crash(self: ManifestStore, state: object) -> None:
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(ManifestStore, "save", crash)
        with pytest.raises(OSError, match="disk full"):
            compact(WarehouseLayout.at(root, lake.root), watchlist, grace=GRACE, clock=lambda: NOW)
    # The merged files landed whole (each by one rename) but nothing was recorded: the lake
    # alone says they replace the originals, so every reader sees one or the other.
    publish(WarehouseLayout.at(root, lake.root), watchlist)
    assert answers(root / "followerledger.duckdb") == before
    current = ManifestStore(WarehouseLayout.at(root)).load().current(lake, "observations")
    assert len(current) == 2
    assert all(is_compacted(f.key) for f in current)
    assert (
        compact(
            WarehouseLayout.at(root, lake.root), watchlist, grace=GRACE, clock=lambda: NOW
        ).partitions
        == 0
    )
    refresh(WarehouseLayout.at(root, lake.root), watchlist)
    assert answers(root / "followerledger.duckdb") == before

    # Originals deleted and the state lost: the footers still say what is what.
    compact(
        WarehouseLayout.at(root, lake.root), watchlist, grace=GRACE, clock=lambda: NOW + 2 * GRACE
    )
    assert all(is_compacted(f.key) for f in lake.list())
    shutil.rmtree(root / "_state")
    refresh(WarehouseLayout.at(root, lake.root), watchlist, full=True)
    assert answers(root / "followerledger.duckdb") == before


WRITER = textwrap.dedent("""
    import os, sys
    from datetime import datetime, timedelta, timezone
    from pathlib import Path
    from followerledger.catalog import publish
    from followerledger.lake import Lake
    from followerledger.layout import WarehouseLayout
    from followerledger.watchlist import load_watchlist
    from tests.test_compaction import land_run
    root, stop, start = Path(sys.argv[1]), sys.argv[2], datetime.fromisoformat(sys.argv[3])
    lake, watchlist = Lake(root / "lake"), load_watchlist(Path(sys.argv[4]))
    rows = runs = 0
    while not os.path.exists(stop) or runs < 3:
        rows += land_run(lake, start + timedelta(seconds=runs), f"live-{runs:04d}")
        publish(WarehouseLayout.at(root, lake.root), watchlist)
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
    warehouse: tuple[Path, Lake, Watchlist], tmp_path: Path
) -> None:
    root, lake, watchlist = warehouse
    landed = land_days(lake, (NOW - 8 * DAY).replace(hour=0), days=2, runs_per_day=6)
    publish(WarehouseLayout.at(root, lake.root), watchlist)
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
            # Another closed day's worth of files lands (an import), then compaction runs.
            first = (NOW - (6 - round_) * DAY).replace(hour=0)
            landed += land_days(lake, first, days=1, runs_per_day=6)
            merged += compact(
                WarehouseLayout.at(root, lake.root), watchlist, grace=GRACE, clock=lambda: NOW
            ).rows
    finally:
        stop.touch()
        written, writer_errors = writer.communicate(timeout=120)
        read, reader_errors = reader.communicate(timeout=120)
    assert writer.returncode == 0, writer_errors
    reads, errors = (int(value) for value in read.split())
    assert errors == 0, reader_errors
    assert reads >= 3
    print("reads", reads, "live rows", written)
    assert merged == landed  # every closed-day row was merged exactly once
    with duckdb.connect(str(root / "followerledger.duckdb"), read_only=True) as connection:
        total = connection.sql("select count(*) from observations").fetchall()[0][0]
    assert total == landed + int(written)


def test_the_compact_command_and_reserved_names(
    warehouse: tuple[Path, Lake, Watchlist], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, lake, _ = warehouse
    land_days(lake, (NOW - 3 * DAY).replace(hour=0), days=1, runs_per_day=2)
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(root))
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(tmp_path / "watchlist.yaml"))
    result = CliRunner().invoke(main, ["compact", "--grace-hours", "0"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "compaction: 2 partitions merged from 4 files (6 rows); 4 originals older than 0 h deleted"
    )
    assert all(is_compacted(f.key) for f in lake.list())
    with pytest.raises(ValueError, match="reserved for compaction"):
        check_run_id("compacted-0123")


@pytest.mark.parametrize("newer_first", [False, True])
def test_the_newest_merge_holds_what_it_superseded_in_any_reading_order(newer_first: bool) -> None:
    older = ("o/compacted-1.parquet", "2026-11-09T00:00:00+00:00", ["o/a.parquet", "o/b.parquet"])
    newer = (
        "o/compacted-2.parquet",
        "2026-11-09T00:00:00+00:00",  # the same clock reading: order cannot come from it
        ["o/a.parquet", "o/b.parquet", "o/c.parquet", "o/compacted-1.parquet"],
    )
    state = BuildManifest()
    for record in (newer, older) if newer_first else (older, newer):
        state.record_compaction(*record)
    assert state.superseded == {
        "o/a.parquet": "o/compacted-2.parquet",
        "o/b.parquet": "o/compacted-2.parquet",
        "o/c.parquet": "o/compacted-2.parquet",
        "o/compacted-1.parquet": "o/compacted-2.parquet",
    }
