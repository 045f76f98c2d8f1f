"""Compaction on the Delta lake (issue 14 item 3), at the lake level: delta-rs' optimize per
closed day and vacuum with the reader grace. Real Delta tables landed by `Landing`, real
DuckDB and Polars, a real SIGKILLed writer process."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable

from followerledger import compaction, pause
from followerledger.cli import main
from followerledger.compaction import (
    CompactionReport,
    closed_days,
    compact_dataset,
    reflect_compaction,
    retention_hours,
    vacuum_tables,
)
from followerledger.delta_lake import (
    DATASETS,
    OBSERVATIONS,
    RUN_LOG,
    DeltaDataset,
    DeltaFile,
    DeltaLake,
    DeltaLakeError,
    delta_lake_of,
)
from followerledger.landing import Landing, write_run_record
from followerledger.layout import WarehouseLayout
from followerledger.models.duckdb_sql import connect, snapshot_relation
from followerledger.observation import Observation
from followerledger.run_log import Usage
from tests.test_delta_lake import files_on_disk, kill_mid_commit, s3_lake  # noqa: F401 (fixture)

#: "Now" for every test: days before 2026-11-10 are closed.
NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
DAY = timedelta(days=1)
GRACE = timedelta(hours=24)
ACCOUNTS = {"x": ["alpha", "gamma"], "bluesky": ["alpha.test"]}
CLOSED = (date(2026, 11, 7), date(2026, 11, 8), date(2026, 11, 9))
RUNS_PER_DAY = 4


def land_run(lake: DeltaLake, when: datetime, run_id: str) -> None:
    """One snapshot run of every account: its rows and its run records, one commit each."""
    for platform, handles in ACCOUNTS.items():
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


@pytest.fixture
def lake(tmp_path: Path) -> DeltaLake:
    """Four runs on each of three closed days, and one run today (whose day stays open)."""
    opened = delta_lake_of(WarehouseLayout.at(tmp_path / "warehouse"))
    for day in CLOSED:
        for run in range(RUNS_PER_DAY):
            when = datetime(day.year, day.month, day.day, 6 * run, tzinfo=UTC)
            land_run(opened, when, f"{when:%Y%m%dT%H%M%SZ}-run")
    land_run(opened, NOW - timedelta(hours=2), "today-1")
    return opened


def table_rows(lake: DeltaLake, dataset: DeltaDataset) -> list[tuple[object, ...]]:
    """Every row of the table's latest version, as delta-rs reads it, in a stable order."""
    table = DeltaTable(lake.table_uri(dataset)).to_pyarrow_table()
    return sorted((tuple(row.values()) for row in table.to_pylist()), key=repr)


def files_by_partition(lake: DeltaLake, dataset: DeltaDataset) -> Counter[tuple[str, date]]:
    return Counter((file.platform, file.day) for file in lake.snapshot(dataset).files)


def compact_all(lake: DeltaLake) -> list[compaction.DatasetCompaction]:
    return [compact_dataset(lake, dataset, NOW) for dataset in DATASETS]


def test_each_closed_platform_day_ends_with_one_file_holding_the_same_rows(
    lake: DeltaLake,
) -> None:
    rows_before = {dataset.name: table_rows(lake, dataset) for dataset in DATASETS}
    today_before = {
        dataset.name: {f.key for f in lake.snapshot(dataset).files if f.day == NOW.date()}
        for dataset in DATASETS
    }
    assert all(
        files_by_partition(lake, dataset)[(platform, day)] == RUNS_PER_DAY
        for dataset in DATASETS
        for platform in ACCOUNTS
        for day in CLOSED
    )

    done = compact_all(lake)

    for result in done:
        dataset = result.dataset
        assert (result.partitions, result.files_before, result.files_after) == (
            len(ACCOUNTS) * len(CLOSED),
            len(ACCOUNTS) * len(CLOSED) * RUNS_PER_DAY,
            len(ACCOUNTS) * len(CLOSED),
        )
        assert result.rows == sum(f.rows for f in result.before.files if f.day in CLOSED)
        counts = files_by_partition(lake, dataset)
        assert {key: n for key, n in counts.items() if key[1] in CLOSED} == {
            (platform, day): 1 for platform in ACCOUNTS for day in CLOSED
        }
        assert {f.key for f in lake.snapshot(dataset).files if f.day == NOW.date()} == (
            today_before[dataset.name]
        )
        assert table_rows(lake, dataset) == rows_before[dataset.name]
        # One OPTIMIZE version per closed day, each saying which day it compacted.
        history = DeltaTable(lake.table_uri(dataset)).history(len(CLOSED))
        assert [entry["operation"] for entry in history] == ["OPTIMIZE"] * len(CLOSED)
        assert sorted(entry["followerledger"] for entry in history) == [
            f"compaction of {day.isoformat()}" for day in CLOSED
        ]
        assert result.after.version == result.before.version + len(CLOSED)  # type: ignore[operator]


def test_a_second_compaction_does_nothing(lake: DeltaLake) -> None:
    compact_all(lake)
    vacuum_tables(lake, GRACE)
    versions = {d.name: DeltaTable(lake.table_uri(d)).version() for d in DATASETS}
    files = {d.name: lake.snapshot(d).files for d in DATASETS}

    again = compact_all(lake)

    assert [(r.partitions, r.files_before, r.rows) for r in again] == [(0, 0, 0)] * len(DATASETS)
    assert vacuum_tables(lake, GRACE) == 0
    assert {d.name: DeltaTable(lake.table_uri(d)).version() for d in DATASETS} == versions
    assert {d.name: lake.snapshot(d).files for d in DATASETS} == files


def test_a_relation_of_the_version_before_reads_through_the_grace_and_vacuum_0_removes_it(
    lake: DeltaLake,
) -> None:
    before = lake.snapshot(OBSERVATIONS)
    held = duckdb.connect()
    held.execute("set TimeZone = 'UTC'")
    held.execute(f"create view observations as {snapshot_relation(before)}")
    rows = held.sql("select * from observations order by all").fetchall()
    assert len(rows) == before.rows

    compact_all(lake)
    after = lake.snapshot(OBSERVATIONS)
    # The 24 h grace keeps what compaction took out of the log: the old relation still reads.
    assert vacuum_tables(lake, GRACE) == 0
    assert held.sql("select * from observations order by all").fetchall() == rows

    root = Path(lake.table_uri(OBSERVATIONS))
    replaced = {f.path for f in before.files} - {f.path for f in after.files}
    removed = lake.vacuum(OBSERVATIONS, retention_hours(timedelta(0)))
    assert {str(root / path) for path in removed} == replaced
    assert files_on_disk(root) == {str(Path(f.path).relative_to(root)) for f in after.files}
    with pytest.raises(duckdb.IOException):
        held.sql("select count(*) from observations").fetchall()
    current = connect().sql(f"select * from ({snapshot_relation(after)}) order by all").fetchall()
    assert current == rows
    # delta-rs lists the deleted files again while their tombstones stay in the log: they
    # are not counted, and no version is committed for them.
    versions = {d.name: DeltaTable(lake.table_uri(d)).version() for d in DATASETS}
    assert lake.vacuum(OBSERVATIONS, 0) == []
    assert vacuum_tables(lake, timedelta(0)) == len(ACCOUNTS) * len(CLOSED) * RUNS_PER_DAY
    assert vacuum_tables(lake, timedelta(0)) == 0
    assert DeltaTable(lake.table_uri(OBSERVATIONS)).version() == versions[OBSERVATIONS.name]


def test_orphans_stay_until_they_are_older_than_a_run_can_last_even_with_grace_0(
    lake: DeltaLake, tmp_path: Path
) -> None:
    root = Path(lake.table_uri(OBSERVATIONS))
    before = files_on_disk(root)
    orphans = kill_mid_commit(lake, tmp_path)
    assert len(orphans) >= 2
    rows = table_rows(lake, OBSERVATIONS)

    # Young files no version names may be a running writer's: no grace deletes them.
    assert vacuum_tables(lake, GRACE) == 0
    assert vacuum_tables(lake, timedelta(0)) == 0
    assert files_on_disk(root) - before == orphans
    # Older than any run lasts (`ORPHAN_AGE`): a dead writer's, removed.
    old = time.time() - (compaction.ORPHAN_AGE + timedelta(hours=1)).total_seconds()
    for name in orphans:
        os.utime(root / name, (old, old))
    assert vacuum_tables(lake, timedelta(0)) == len(orphans)

    assert files_on_disk(root) == before
    assert table_rows(lake, OBSERVATIONS) == rows


def test_polars_counts_the_tables_rows_after_compaction(lake: DeltaLake) -> None:
    counted = {d.name: lake.snapshot(d).rows for d in DATASETS}
    compact_all(lake)
    vacuum_tables(lake, timedelta(0))
    for dataset in DATASETS:
        uri = lake.table_uri(dataset)
        scanned = pl.scan_delta(uri).select(pl.len()).collect().item()
        assert scanned == DeltaTable(uri).to_pyarrow_table().num_rows == counted[dataset.name]


def test_a_partition_left_with_more_than_one_file_is_an_error_naming_it(
    lake: DeltaLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Compaction asking delta-rs for a target far below one run's file (a misconfiguration):
    # it cannot merge them into one, and the check against the table's target says so.
    monkeypatch.setattr(compaction, "TARGET_FILE_SIZE", 1)
    with pytest.raises(DeltaLakeError, match=r"observations/platform=\w+/date=2026-11-07: after"):
        compact_dataset(lake, OBSERVATIONS, NOW)


def test_a_day_closes_an_hour_after_it_ends() -> None:
    def files(day: date, n: int) -> list[DeltaFile]:
        return [
            DeltaFile(f"/l/o/{i}", 1, 1, "x", day, f"o/platform=x/date={day}/{i}") for i in range(n)
        ]

    two = files(date(2026, 11, 9), 2) + files(date(2026, 11, 8), 1)
    assert closed_days(two, datetime(2026, 11, 10, 0, 59, tzinfo=UTC)) == []
    assert closed_days(two, datetime(2026, 11, 10, 1, 0, tzinfo=UTC)) == [date(2026, 11, 9)]
    assert retention_hours(timedelta(minutes=30)) == 1
    assert retention_hours(GRACE) == 24
    assert retention_hours(timedelta(0)) == 0


def delta_file(key: str, size: int, rows: int) -> DeltaFile:
    _, platform, day, _ = key.split("/")
    return DeltaFile(
        f"/lake/{key}",
        size,
        rows,
        platform.removeprefix("platform="),
        date.fromisoformat(day.removeprefix("date=")),
        key,
    )


X7 = "observations/platform=x/date=2026-11-07"
Y7 = "observations/platform=y/date=2026-11-07"
BEFORE = [delta_file(f"{X7}/a", 10, 2), delta_file(f"{X7}/b", 11, 3), delta_file(f"{Y7}/c", 9, 4)]
AFTER = [delta_file(f"{X7}/m", 15, 5), delta_file(f"{Y7}/c", 9, 4)]


def test_reflect_swaps_the_originals_for_the_new_file_when_all_were_reflected() -> None:
    lake_files = {f"{X7}/a": (10, 2), f"{X7}/b": (11, 3), f"{Y7}/c": (9, 4), "run_log/k": (1, 1)}
    reflect_compaction(lake_files, BEFORE, AFTER)
    assert lake_files == {f"{X7}/m": (15, 5), f"{Y7}/c": (9, 4), "run_log/k": (1, 1)}


def test_reflect_only_drops_the_originals_when_one_was_not_reflected() -> None:
    lake_files = {f"{X7}/a": (10, 2), f"{Y7}/c": (9, 4)}
    reflect_compaction(lake_files, BEFORE, AFTER)
    assert lake_files == {f"{Y7}/c": (9, 4)}  # refresh sees m as added


def test_reflect_only_drops_the_originals_when_the_new_files_hold_other_rows() -> None:
    lake_files = {f"{X7}/a": (10, 2), f"{X7}/b": (11, 3)}
    late = [*AFTER, delta_file(f"{X7}/late", 4, 1)]  # a file landed beside the merge
    reflect_compaction(lake_files, BEFORE, late)
    assert lake_files == {}


def test_reflect_changes_nothing_when_nothing_was_compacted() -> None:
    lake_files = {f"{X7}/a": (10, 2)}
    reflect_compaction(lake_files, BEFORE, BEFORE)
    assert lake_files == {f"{X7}/a": (10, 2)}


def test_the_report_is_one_line() -> None:
    report = CompactionReport(6, 24, 6, 36, 24, GRACE, 0.5)
    assert report.describe() == (
        "compaction: 6 partitions compacted from 24 files into 6 (36 rows); "
        "24 unreferenced files older than 24 h vacuumed in 0.50 s"
    )
    assert "\n" not in dataclasses.replace(report, grace=timedelta(minutes=90)).describe()


def test_the_run_log_is_compacted_too(lake: DeltaLake) -> None:
    rows = table_rows(lake, RUN_LOG)
    result = compact_dataset(lake, RUN_LOG, NOW)
    assert result.partitions == len(ACCOUNTS) * len(CLOSED)
    assert table_rows(lake, RUN_LOG) == rows
    assert pa.table(DeltaTable(lake.table_uri(RUN_LOG)).get_add_actions()).num_rows == (
        len(ACCOUNTS) * (len(CLOSED) + 1)
    )


def test_compaction_and_vacuum_on_an_s3_lake(
    s3_lake: DeltaLake,  # noqa: F811
) -> None:
    for run in range(3):
        land_run(s3_lake, datetime(2026, 11, 8, 6 * run, tzinfo=UTC), f"s3-run-{run}")
    rows = {d.name: s3_lake.snapshot(d).rows for d in DATASETS}
    before = {d.name: {f.key for f in s3_lake.snapshot(d).files} for d in DATASETS}

    done = compact_all(s3_lake)

    assert [r.partitions for r in done] == [len(ACCOUNTS)] * len(DATASETS)
    assert vacuum_tables(s3_lake, GRACE) == 0
    replaced = sum(
        len(keys - {f.key for f in s3_lake.snapshot(d).files})
        for d, keys in zip(DATASETS, before.values(), strict=True)
    )
    assert vacuum_tables(s3_lake, timedelta(0)) == replaced == 3 * len(ACCOUNTS) * len(DATASETS)
    # delta-rs lists the deleted files again while their tombstones stay in the log.
    versions = {d.name: s3_lake.snapshot(d).version for d in DATASETS}
    assert vacuum_tables(s3_lake, timedelta(0)) == 0
    assert {d.name: s3_lake.snapshot(d).version for d in DATASETS} == versions
    for dataset in DATASETS:
        assert s3_lake.snapshot(dataset).rows == rows[dataset.name]
        assert {(f.platform, f.day) for f in s3_lake.snapshot(dataset).files} == {
            (platform, date(2026, 11, 8)) for platform in ACCOUNTS
        }


def test_compact_on_a_lake_of_the_old_layout_says_migrate_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "warehouse"
    partition = WarehouseLayout.at(warehouse).lake_dataset("observations") / "platform=x"
    (partition / "date=2026-11-07").mkdir(parents=True)
    pq.write_table(pa.table({"run_id": ["old"]}), partition / "date=2026-11-07" / "old.parquet")
    (tmp_path / "watchlist.yaml").write_text("brands:\n  A:\n    x: [alpha]\n", encoding="utf-8")
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(tmp_path / "watchlist.yaml"))

    result = CliRunner().invoke(main, ["compact"])

    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "holds run files of the old lake layout" in result.output
    assert "run `followerledger migrate` first" in result.output
    assert not (partition.parent / "_delta_log").exists()


KILLED_COMPACT = """
import sys
from pathlib import Path
from followerledger.compaction import compact
from followerledger.layout import WarehouseLayout
from tests.test_delta_compaction import GRACE, NOW
compact(WarehouseLayout.at(Path(sys.argv[1])), None, grace=GRACE, clock=lambda: NOW)
"""


def test_a_compaction_killed_between_two_days_leaves_a_valid_table_and_the_next_finishes(
    lake: DeltaLake, tmp_path: Path
) -> None:
    rows = {d.name: table_rows(lake, d) for d in DATASETS}
    counts = {d.name: files_by_partition(lake, d) for d in DATASETS}
    signal_file = tmp_path / "paused"
    environment = {
        **os.environ,
        pause.PAUSE_AT: "compact-optimize@2",
        pause.PAUSE_SIGNAL: str(signal_file),
    }
    layout = WarehouseLayout.at(tmp_path / "warehouse")  # the fixture's
    assert layout.lake_uri == lake.root
    script = [sys.executable, "-c", KILLED_COMPACT, str(layout.warehouse)]
    with subprocess.Popen(script, env=environment, cwd=Path(__file__).parent.parent) as child:
        deadline = time.monotonic() + 60
        while not signal_file.exists():
            assert child.poll() is None, "compact ended before its pause point"
            assert time.monotonic() < deadline, "compact never reached its pause point"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()

    # The first closed day of observations committed; nothing else changed.
    first = files_by_partition(lake, OBSERVATIONS)
    assert {key: n for key, n in first.items() if key[1] == CLOSED[0]} == {
        (platform, CLOSED[0]): 1 for platform in ACCOUNTS
    }
    assert {key: n for key, n in first.items() if key[1] != CLOSED[0]} == {
        key: n for key, n in counts[OBSERVATIONS.name].items() if key[1] != CLOSED[0]
    }
    assert files_by_partition(lake, RUN_LOG) == counts[RUN_LOG.name]
    assert {d.name: table_rows(lake, d) for d in DATASETS} == rows

    done = compact_all(lake)

    assert [r.partitions for r in done] == [
        len(ACCOUNTS) * (len(CLOSED) - 1),
        len(ACCOUNTS) * len(CLOSED),
    ]
    for dataset in DATASETS:
        assert {n for key, n in files_by_partition(lake, dataset).items() if key[1] in CLOSED} == {
            1
        }
    assert {d.name: table_rows(lake, d) for d in DATASETS} == rows


def test_a_day_re_landed_while_it_is_compacted_is_one_line_and_loses_nothing(
    lake: DeltaLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    when = datetime(2026, 11, 7, 6, tzinfo=UTC)
    rerun = f"{when:%Y%m%dT%H%M%SZ}-run"
    relanded = False

    class ConcurrentWriter:
        """At the first day's commit, another process's re-run replaces rows of that day."""

        @staticmethod
        def point(name: str) -> None:
            nonlocal relanded
            if not relanded:
                relanded = True
                land_run(delta_lake_of_same(lake), when, rerun)

    monkeypatch.setattr(compaction, "pause", ConcurrentWriter)
    with pytest.raises(DeltaLakeError) as failed:
        compact_dataset(lake, OBSERVATIONS, NOW)
    assert str(failed.value) == (
        "observations 2026-11-07: changed while it was being compacted (CommitFailedError); "
        "run `followerledger compact` again"
    )
    monkeypatch.undo()
    # Nothing doubled or lost: every run's rows once, the re-run's as it landed.
    runs = Counter(row[0] for row in table_rows(lake, OBSERVATIONS))
    assert set(runs.values()) == {len(ACCOUNTS["x"]) + len(ACCOUNTS["bluesky"])}
    assert compact_dataset(lake, OBSERVATIONS, NOW).partitions == 2 * len(CLOSED)


def delta_lake_of_same(lake: DeltaLake) -> DeltaLake:
    """Another writer of the same lake (its own open tables, as another process has)."""
    return DeltaLake(lake.root)
