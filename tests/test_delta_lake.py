"""The Delta lake core (issue 14): tables from the layout, the streaming landing, snapshots
and the offline DuckDB relation over them. Real Delta tables on disk, real DuckDB."""

from __future__ import annotations

import concurrent.futures
import dataclasses
import errno
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError

from followerledger import delta_writer, landing, run_log, stopping
from followerledger.catalog import STORAGE_VERSION
from followerledger.delta_lake import (
    OBSERVATIONS,
    REOPEN_AFTER_VERSIONS,
    RUN_LOG,
    S3_OPTIONS,
    DeltaLake,
    DeltaLakeError,
    MigrationNeeded,
    delta_lake_of,
    run_predicate,
)
from followerledger.delta_writer import DeltaRunWriter
from followerledger.lake import LakeError
from followerledger.landing import Landing, landings, write_observations, write_run_record
from followerledger.layout import WarehouseLayout
from followerledger.models.duckdb_sql import connect, snapshot_comment, snapshot_relation
from followerledger.observation import Observation, to_table
from followerledger.pause import PAUSE_AT, PAUSE_SIGNAL
from followerledger.run_log import RunRecord, Usage
from tests.analyst import AnalystSession
from tests.moto_server import create_bucket, endpoint, moto_s3, use_s3

AT = datetime(2026, 11, 26, 23, 59, tzinfo=UTC)
DAY = AT.date()


def rows(
    n: int, run_id: str = "run-1", platform: str = "x", prefix: str = "h"
) -> list[Observation]:
    return [
        Observation(
            run_id=run_id,
            observed_at=AT,
            platform=platform,
            handle=f"{prefix}{i}",
            status="ok" if i % 5 else "not_found",
            source="api",
            account_id=f"{platform}{i}",
            followers=i * 10 if i % 5 else None,
        )
        for i in range(n)
    ]


def table_rows(lake: DeltaLake) -> list[tuple[str, str, str, int | None]]:
    """(run_id, platform, handle, followers) of every committed row, as delta-rs reads them."""
    table = DeltaTable(lake.table_uri(OBSERVATIONS)).to_pyarrow_table(
        columns=["run_id", "platform", "handle", "followers"]
    )
    return sorted(zip(*(table[c].to_pylist() for c in table.column_names), strict=True))


def expected(observations: list[Observation]) -> list[tuple[str, str, str, int | None]]:
    return sorted((o.run_id, o.platform, o.handle, o.followers) for o in observations)


def version(lake: DeltaLake) -> int:
    return DeltaTable(lake.table_uri(OBSERVATIONS)).version()


def files_on_disk(root: Path) -> set[str]:
    """Every data file under a table root, relative, as the log names them."""
    return {
        str(path.relative_to(root))
        for path in root.rglob("*.parquet")
        if "_delta_log" not in path.parts
    }


def referenced(lake: DeltaLake) -> set[str]:
    root = lake.table_uri(OBSERVATIONS)
    return {os.path.relpath(f.path, root) for f in lake.snapshot(OBSERVATIONS).files}


@pytest.fixture
def lake(tmp_path: Path) -> DeltaLake:
    opened = delta_lake_of(WarehouseLayout.at(tmp_path / "warehouse"))
    opened.table(OBSERVATIONS)  # version 0: the empty table
    return opened


def test_tables_live_under_the_layouts_lake_partitioned_by_platform_and_date(
    tmp_path: Path,
) -> None:
    lake = delta_lake_of(WarehouseLayout.at(tmp_path / "w", tmp_path / "elsewhere"))
    table = lake.table(OBSERVATIONS)
    assert lake.table_uri(OBSERVATIONS) == str(tmp_path / "elsewhere" / "observations")
    assert (tmp_path / "elsewhere/observations/_delta_log").is_dir()
    assert table.version() == 0
    assert table.metadata().partition_columns == ["platform", "date"]
    schema = pa.schema(table.schema())
    assert schema.names == [*OBSERVATIONS.row_schema.names, "date"]
    assert schema.field("date").type == pa.date32()
    assert table.metadata().configuration == {
        "delta.targetFileSize": str(32 << 20),
        "delta.dataSkippingStatsColumns": "run_id,observed_at,shard",
        "delta.checkpointInterval": "10",
    }
    assert lake.table(OBSERVATIONS).version() == 0  # opening again creates nothing
    delta_writer.replace_run(lake, OBSERVATIONS, "x", "run-1", DAY, to_table(rows(3)))
    stats = pa.table(lake.table(OBSERVATIONS).get_add_actions(flatten=True)).column_names
    assert sorted(name for name in stats if name.startswith("max.")) == [
        "max.observed_at",
        "max.run_id",
        "max.shard",
    ]


def test_a_landing_from_threads_is_one_version_invisible_until_commit(lake: DeltaLake) -> None:
    landing = Landing(lake, "x", "run-1", AT, row_group_rows=25)
    batches = []
    for index in range(13):  # the 13th stays buffered until commit
        batch = [dataclasses.replace(row, handle=f"b{index}-{row.handle}") for row in rows(10)]
        batches.append(batch)
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        counts = list(pool.map(landing.add, batches))
    assert counts == [{"ok": 8, "not_found": 2}] * 13
    # Row groups have been staged, yet no version names them.
    assert landing._writer is not None
    assert version(lake) == 0
    assert table_rows(lake) == []
    assert landing.commit() == 1
    assert version(lake) == 1
    assert table_rows(lake) == expected([row for batch in batches for row in batch])
    assert landing.statuses == {"ok": 104, "not_found": 26}
    assert landing.sources == {"api"}
    with pytest.raises(LakeError, match="already committed"):
        landing.add(rows(1))


def test_a_long_landing_stages_its_rows_outside_the_table_until_its_commit(
    lake: DeltaLake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(lake.table_uri(OBSERVATIONS))
    staging = tmp_path / "staging"
    staging.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging))
    writer = DeltaRunWriter(lake, OBSERVATIONS, "x", "big", DAY, target_file_size=1 << 16)
    big = [dataclasses.replace(row, run_id="big") for row in rows(2_000)]
    table = to_table(big)
    for _ in range(30):
        writer.write(table)
    assert files_on_disk(root) == set()
    assert version(lake) == 0
    # In TMPDIR, and unlinked: nothing is left behind there, however the process ends.
    staged = os.readlink(f"/proc/self/fd/{writer._staged.fileno()}")
    assert staged.startswith(str(staging))
    assert staged.endswith("(deleted)")
    assert list(staging.iterdir()) == []
    assert writer.commit() == 1
    snapshot = lake.snapshot(OBSERVATIONS)
    assert snapshot.rows == 60_000
    assert len(snapshot.files) > 1  # rolled over at the target size: memory stays flat


def test_many_long_landings_at_once_each_commit_while_the_others_wait_for_rows(
    lake: DeltaLake,
) -> None:
    """A 1,000,000-account snapshot stalled: its 32 landings (8 shards of 4 platforms) each
    streamed into a write of its own, and a write waiting for its next rows held one of
    delta-rs's worker threads (as many as cores), so that with more long landings than cores
    none could finish. Here eight landings are open and only the last is fed."""
    table = to_table([dataclasses.replace(row, run_id="run-7") for row in rows(20_000)])
    writers: list[DeltaRunWriter] = []
    result: list[int] = []

    def land() -> None:
        # Opened here too: with the old writer, opening a table could wait for a worker thread.
        writers.extend(DeltaRunWriter(lake, OBSERVATIONS, "x", f"run-{i}", DAY) for i in range(8))
        for _ in range(6):
            writers[-1].write(table)
        result.append(writers[-1].commit())

    worker = threading.Thread(target=land, daemon=True)
    worker.start()
    worker.join(timeout=120)  # a deadlock bound, not a speed
    # Given up each on a thread of its own: a stalled write may never end.
    for writer in writers[:-1]:
        threading.Thread(target=writer.abort, daemon=True).start()
    assert not worker.is_alive(), "the fed landing never committed while seven others were open"
    assert result == [1]
    assert lake.snapshot(OBSERVATIONS).rows == 120_000


def test_a_rerun_replaces_exactly_its_own_rows_in_one_version(lake: DeltaLake) -> None:
    first_x, first_y, other_x = rows(5), rows(4, platform="y"), rows(3, run_id="run-2")
    for platform, batch in (("x", first_x), ("y", first_y)):
        landing = Landing(lake, platform, "run-1", AT)
        landing.add(batch)
        landing.commit()
    landing = Landing(lake, "x", "run-2", AT)
    landing.add(other_x)
    assert landing.commit() == 3
    again = rows(2, prefix="again")
    landing = Landing(lake, "x", "run-1", AT)
    landing.add(again)
    assert landing.commit() == 4
    assert table_rows(lake) == expected(again + first_y + other_x)
    last = DeltaTable(lake.table_uri(OBSERVATIONS)).history(1)[0]
    assert last["operation"] == "WRITE"
    # delta-rs records the predicate with its date literal cast (`'2026-11-26'::date`).
    assert last["operationParameters"]["predicate"].startswith(run_predicate("x", "run-1"))
    assert last["operationMetrics"]["num_removed_files"] == 1


def test_a_run_that_fits_one_buffer_commits_without_staging_its_rows(
    lake: DeltaLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_thread(*args: object, **kwargs: object) -> None:
        raise AssertionError("a DeltaRunWriter was made")

    monkeypatch.setattr(landing, "DeltaRunWriter", no_thread)
    landed = Landing(lake, "x", "run-1", AT, row_group_rows=100)
    landed.add(rows(40))
    landed.add(rows(40, prefix="more"))
    assert version(lake) == 0
    assert landed.commit() == 1
    assert table_rows(lake) == expected(rows(40) + rows(40, prefix="more"))


def test_a_failed_one_shot_commit_is_a_lake_error_naming_no_rows(
    lake: DeltaLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise DeltaError("row h1 is secret-ish")

    monkeypatch.setattr(delta_writer, "write_deltalake", refused)
    landing = Landing(lake, "x", "run-1", AT)
    landing.add(rows(3))
    with pytest.raises(DeltaLakeError, match=r"commit failed \(DeltaError\)") as raised:
        landing.commit()
    assert "h1" not in str(raised.value)
    assert version(lake) == 0


def test_a_landing_refuses_rows_of_another_run_or_platform(lake: DeltaLake) -> None:
    landing = Landing(lake, "x", "run-1", AT)
    with pytest.raises(LakeError, match="another platform"):
        landing.add(rows(3) + rows(1, platform="y"))
    with pytest.raises(LakeError, match="another run_id"):
        landing.add(rows(2, run_id="run-9"))
    assert landing.statuses == {}
    assert landing.commit() is None
    assert version(lake) == 0


def test_an_aborted_landing_makes_no_version_and_leaves_no_file(
    lake: DeltaLake,
) -> None:
    kept = Landing(lake, "x", "run-1", AT)
    kept.add(rows(3))
    kept.commit()
    root = Path(lake.table_uri(OBSERVATIONS))
    before = files_on_disk(root)
    writer = DeltaRunWriter(lake, OBSERVATIONS, "x", "run-1", DAY, target_file_size=1 << 16)
    table = to_table(rows(2_000))
    for _ in range(20):
        writer.write(table)
    writer.abort()
    assert files_on_disk(root) == before  # staged outside the table: nothing to vacuum
    assert version(lake) == 1
    assert table_rows(lake) == expected(rows(3))
    with pytest.raises(DeltaLakeError, match="already ended"):
        writer.commit()
    # A landing given up mid-run (its writer started) leaves no version either.
    landing = Landing(lake, "y", "run-1", AT, row_group_rows=2)
    landing.add(rows(4, platform="y"))
    landing.abort()
    assert version(lake) == 1
    assert files_on_disk(root) == before
    assert table_rows(lake) == expected(rows(3))


COMMIT_UNTIL_KILLED = """
import sys
import tempfile
from followerledger.delta_lake import OBSERVATIONS, DeltaLake
from followerledger.delta_writer import DeltaRunWriter
from tests.test_delta_lake import DAY, rows
from followerledger.observation import to_table
writer = DeltaRunWriter(DeltaLake(sys.argv[1]), OBSERVATIONS, "x", "killed", DAY, 1 << 16)
table = to_table(rows(2_000, run_id="killed"))
for _ in range(40):
    writer.write(table)
writer.commit()  # paused mid-stream (FOLLOWERLEDGER_TEST_PAUSE_AT) until killed
"""


def kill_mid_commit(lake: DeltaLake, folder: Path) -> set[str]:
    """SIGKILL a process whose one long commit to the observations table has written data
    files but made no version; returns those files (none of them named by the log)."""
    root = Path(lake.table_uri(OBSERVATIONS))
    before = files_on_disk(root)
    paused = folder / "paused"
    child = subprocess.Popen(
        [sys.executable, "-c", COMMIT_UNTIL_KILLED, lake.root],
        cwd=Path(__file__).parent.parent,
        env={**os.environ, PAUSE_AT: "delta-write@30", PAUSE_SIGNAL: str(paused)},
    )
    try:
        assert _eventually(paused.exists, timeout=60)
        assert _eventually(lambda: len(files_on_disk(root) - before) >= 2, timeout=60)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    return files_on_disk(root) - before


def test_a_writer_killed_mid_commit_leaves_only_files_vacuum_removes(
    lake: DeltaLake, tmp_path: Path
) -> None:
    kept = Landing(lake, "x", "run-1", AT)
    kept.add(rows(3))
    kept.commit()
    root = Path(lake.table_uri(OBSERVATIONS))
    orphans = kill_mid_commit(lake, tmp_path)
    assert version(lake) == 1
    assert table_rows(lake) == expected(rows(3))
    assert orphans.isdisjoint(referenced(lake))
    assert set(lake.vacuum(OBSERVATIONS, retention_hours=0)) >= orphans
    assert files_on_disk(root) == referenced(lake)
    assert table_rows(lake) == expected(rows(3))


def test_leaving_the_landings_block_gives_up_what_was_not_committed(lake: DeltaLake) -> None:
    def run() -> None:
        with landings(lake, ["x", "y"], "run-1", AT) as opened:
            opened["x"].add(rows(3))
            opened["x"].commit()
            opened["y"].add(rows(3, platform="y"))
            raise RuntimeError("fetch failed")

    with pytest.raises(RuntimeError, match="fetch failed"):
        run()
    assert version(lake) == 1
    assert table_rows(lake) == expected(rows(3))


def test_two_concurrent_landings_of_different_platforms_both_commit(lake: DeltaLake) -> None:
    start = threading.Barrier(2)

    def land(platform: str) -> int | None:
        landing = Landing(lake, platform, "run-1", AT, row_group_rows=50)
        start.wait()
        for index in range(4):
            landing.add(rows(100, platform=platform, prefix=f"b{index}-"))
        start.wait()  # both writers open before either commits
        return landing.commit()

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        versions = list(pool.map(land, ["x", "y"]))
    assert sorted(v for v in versions if v is not None) == [1, 2]
    assert version(lake) == 2
    landed = [
        row
        for platform in ("x", "y")
        for index in range(4)
        for row in rows(100, platform=platform, prefix=f"b{index}-")
    ]
    assert table_rows(lake) == expected(landed)


def test_two_concurrent_relandings_of_one_run_and_platform_never_double_it(
    lake: DeltaLake,
) -> None:
    landing = Landing(lake, "x", "run-1", AT)
    landing.add(rows(5, prefix="old"))
    landing.commit()
    writers = [DeltaRunWriter(lake, OBSERVATIONS, "x", "run-1", DAY) for _ in range(2)]
    for index, writer in enumerate(writers):  # both writers lent a table at version 1
        writer.write(to_table(rows(3 + index, prefix=f"new{index}-")))
    start = threading.Barrier(2)

    def commit(writer: DeltaRunWriter) -> int | str:
        start.wait()
        try:
            return writer.commit()
        except DeltaLakeError as error:
            return type(error.__cause__).__name__

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(commit, writers))
    assert sorted(outcomes, key=str) == [2, "CommitFailedError"]
    winner = outcomes.index(2)
    assert table_rows(lake) == expected(rows(3 + winner, prefix=f"new{winner}-"))


def test_two_concurrent_first_landings_of_one_run_and_platform_never_double_it(
    lake: DeltaLake,
) -> None:
    writers = [DeltaRunWriter(lake, OBSERVATIONS, "x", "run-1", DAY) for _ in range(2)]
    for index, writer in enumerate(writers):  # both lent a table at version 0, no row yet
        writer.write(to_table(rows(3 + index, prefix=f"new{index}-")))
    start = threading.Barrier(2)

    def commit(writer: DeltaRunWriter) -> int | str:
        start.wait()
        try:
            return writer.commit()
        except DeltaLakeError as error:
            return type(error.__cause__).__name__

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(commit, writers))
    assert sorted(outcomes, key=str) == [1, "CommitFailedError"]
    winner = outcomes.index(1)
    assert table_rows(lake) == expected(rows(3 + winner, prefix=f"new{winner}-"))


def land_in_process(root: str, platform: str, start_at: float) -> int | None:
    """One landing in a process of its own, started at a shared moment."""
    lake = DeltaLake(root)
    landing = Landing(lake, platform, "run-1", AT, row_group_rows=50)
    time.sleep(max(0.0, start_at - time.time()))
    landing.add(rows(200, platform=platform))
    return landing.commit()


def test_concurrent_landings_in_separate_processes_all_commit(lake: DeltaLake) -> None:
    platforms = ["x", "y", "bluesky", "mastodon"]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=4, mp_context=context) as pool:
        start_at = time.time() + 3.0
        futures = [pool.submit(land_in_process, lake.root, p, start_at) for p in platforms]
        versions = [future.result() for future in futures]
    assert sorted(v for v in versions if v is not None) == [1, 2, 3, 4]
    assert table_rows(lake) == expected([r for p in platforms for r in rows(200, platform=p)])


def test_writers_racing_to_create_a_table_share_version_0(tmp_path: Path) -> None:
    lake = DeltaLake(tmp_path / "lake")
    start = threading.Barrier(4)

    def open_table(_: int) -> int:
        start.wait()
        return lake.table(OBSERVATIONS).version()

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(open_table, range(4))) == [0, 0, 0, 0]
    assert DeltaTable(lake.table_uri(OBSERVATIONS)).version() == 0


def test_a_landing_whose_staging_fails_stops_and_keeps_nothing(
    lake: DeltaLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[int] = []

    def disk_full(self: pq.ParquetWriter, table: pa.Table, **options: object) -> None:
        written.append(table.num_rows)
        if len(written) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def still_full(self: pq.ParquetWriter) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pq.ParquetWriter, "write_table", disk_full)
    # Giving the write up closes its staging file, and a full disk fails that too.
    monkeypatch.setattr(pq.ParquetWriter, "close", still_full)
    landing = Landing(lake, "x", "run-1", AT, row_group_rows=1)
    landing.add(rows(1))
    landing.add(rows(1))
    with pytest.raises(DeltaLakeError, match=r"staging its rows failed .*TMPDIR"):
        landing.add(rows(1))
    with pytest.raises(LakeError, match="an earlier write failed"):
        landing.add(rows(1))
    with pytest.raises(LakeError, match="an earlier write failed"):
        landing.commit()
    assert version(lake) == 0


def test_a_staging_file_that_cannot_be_finished_fails_the_commit_in_one_line(
    lake: DeltaLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = DeltaRunWriter(lake, OBSERVATIONS, "x", "run-1", DAY)
    writer.write(to_table(rows(3)))

    def full(self: pq.ParquetWriter) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pq.ParquetWriter, "close", full)
    with pytest.raises(DeltaLakeError, match=r"staging its rows failed .*TMPDIR"):
        writer.commit()
    assert writer._staged.closed
    writer.abort()  # nothing left to give up
    assert version(lake) == 0
    assert Landing(lake, "x", "run-1", AT).commit() is None  # the table is not left lent


def test_a_stop_signal_before_delta_rs_has_every_row_makes_no_version(lake: DeltaLake) -> None:
    writer = DeltaRunWriter(lake, OBSERVATIONS, "x", "run-1", DAY)
    writer.write(to_table(rows(30)))
    stopping.STOP.set()
    try:
        with pytest.raises(stopping.Stopped):
            writer.commit()
    finally:
        stopping.STOP.clear()
    assert version(lake) == 0
    assert files_on_disk(Path(lake.table_uri(OBSERVATIONS))) == set()


def test_a_failed_commit_names_no_rows_and_hides_the_cause(lake: DeltaLake) -> None:
    writer = DeltaRunWriter(lake, OBSERVATIONS, "y", "run-1", DAY)
    writer.write(to_table(rows(3)))  # rows of platform x: outside the predicate
    with pytest.raises(DeltaLakeError, match=r"commit failed \(DeltaError\)") as raised:
        writer.commit()
    assert "h1" not in str(raised.value)  # the rows delta-rs quotes stay in the cause
    assert version(lake) == 0


def test_the_duckdb_relation_reads_exactly_what_the_table_holds(lake: DeltaLake) -> None:
    for day, platform, run_id, n in (
        (26, "x", "run-1", 7),
        (26, "y", "run-1", 5),
        (27, "x", "run-2", 4),
        (27, "x", "run-2", 2),  # a re-run: replaces the 4
    ):
        started = AT.replace(day=day)
        landing = Landing(lake, platform, run_id, started)
        landing.add(
            [dataclasses.replace(r, observed_at=started) for r in rows(n, run_id, platform)]
        )
        landing.commit()
    snapshot = lake.snapshot(OBSERVATIONS)
    assert snapshot.version == 4
    assert {(f.platform, f.day) for f in snapshot.files} == {
        ("x", date(2026, 11, 26)),
        ("y", date(2026, 11, 26)),
        ("x", date(2026, 11, 27)),
    }
    held = DeltaTable(lake.table_uri(OBSERVATIONS)).to_pyarrow_table()
    assert snapshot.rows == held.num_rows == 14
    connection = connect()
    relation = snapshot_relation(snapshot)
    columns = OBSERVATIONS.table_schema.names
    read = connection.sql(f"select {', '.join(columns)} from ({relation})").arrow().read_all()
    assert read.schema.field("platform").type == pa.string()
    assert read.schema.field("date").type == pa.date32()
    assert _sorted_rows(read) == _sorted_rows(held.select(columns))
    loaded = connection.sql(
        "select extension_name from duckdb_extensions() where loaded and extension_name = 'delta'"
    ).fetchall()
    assert loaded == []
    # As of an earlier version: the re-run's first landing, not its replacement.
    before = lake.snapshot(OBSERVATIONS, version=3)
    count = connection.sql(f"select count(*) from ({snapshot_relation(before)})").fetchall()
    assert count == [(16,)]
    # An outside reader through the log agrees.
    assert pl.scan_delta(lake.table_uri(OBSERVATIONS)).select(pl.len()).collect().item() == 14


def test_the_relation_has_exactly_the_tables_columns_under_a_key_value_folder(
    tmp_path: Path,
) -> None:
    lake = DeltaLake(tmp_path / "env=prod" / "lake")
    landing = Landing(lake, "x", "run-1", AT)
    landing.add(rows(4))
    landing.commit()
    read = connect().sql(snapshot_relation(lake.snapshot(OBSERVATIONS))).arrow().read_all()
    assert read.schema.names == OBSERVATIONS.table_schema.names
    assert read.num_rows == 4
    assert set(read.column("date").to_pylist()) == {DAY}


def test_a_catalog_file_of_delta_views_opens_in_the_pinned_duckdb_cli(
    lake: DeltaLake, tmp_path: Path
) -> None:
    for platform, n in (("x", 6), ("y", 3)):
        landing = Landing(lake, platform, "run-1", AT)
        landing.add(rows(n, platform=platform))
        landing.commit()
        write_run_record(lake, RunRecord("run-1", platform, AT, AT, 1, None, {"ok": n}, "api"))
    catalog = tmp_path / "catalog.duckdb"
    connection = connect()
    connection.execute(f"attach '{catalog}' as ledger (storage_version '{STORAGE_VERSION}')")
    connection.execute("use ledger")
    for dataset in (OBSERVATIONS, RUN_LOG):
        snapshot = lake.snapshot(dataset)
        connection.execute(f"create view {dataset.name} as {snapshot_relation(snapshot)}")
        comment = snapshot_comment("Rows.", snapshot)
        connection.execute(f"comment on view {dataset.name} is '{comment}'")
    connection.execute("use memory")
    connection.execute("detach ledger")
    connection.close()
    with AnalystSession(catalog) as analyst:
        assert analyst.ask("select count(*) from observations") == "9"
        assert analyst.ask("select count(*) from observations where platform = 'y'") == "3"
        assert analyst.ask("select typeof(date) from observations limit 1") == "DATE"
        assert analyst.ask("select sum(accounts) from run_log") == "9"
        assert analyst.ask("select version()").startswith("v1.5")
        assert (
            analyst.ask("select comment from duckdb_views() where view_name = 'observations'")
            == '"Rows. Delta table observations, version 2."'  # CSV quotes it
        )


def test_a_snapshot_before_the_first_commit_creates_nothing(tmp_path: Path) -> None:
    lake = DeltaLake(tmp_path / "lake")
    snapshot = lake.snapshot(RUN_LOG)
    assert (snapshot.version, snapshot.files) == (None, ())
    assert not (tmp_path / "lake").exists()
    assert snapshot_comment("Runs.", snapshot) == "Runs. Delta table run_log, not created yet."
    read = connect().sql(snapshot_relation(snapshot)).arrow().read_all()
    assert (read.num_rows, read.schema.names) == (0, RUN_LOG.table_schema.names)
    with pytest.raises(DeltaLakeError, match="no table"):
        lake.snapshot(RUN_LOG, version=0)


def test_no_table_is_created_or_read_over_the_old_layouts_run_files(tmp_path: Path) -> None:
    layout = WarehouseLayout.at(tmp_path / "warehouse")
    folder = layout.lake_dataset(OBSERVATIONS.name)
    old = f"{OBSERVATIONS.name}/platform=x/date={AT.date().isoformat()}/run-1.parquet"
    (folder.parent / old).parent.mkdir(parents=True)
    pq.write_table(to_table(rows(3)), folder.parent / old)  # a run file as the old lake wrote it
    lake = delta_lake_of(layout)
    landing = Landing(lake, "x", "run-2", AT)
    landing.add(rows(2, run_id="run-2"))
    for attempt in (
        lambda: lake.table(OBSERVATIONS),
        lambda: lake.snapshot(OBSERVATIONS),
        landing.commit,
    ):
        with pytest.raises(MigrationNeeded) as refused:
            attempt()
        message = str(refused.value)
        assert message == (
            f"{folder} holds run files of the old lake layout and no Delta table; "
            "run `followerledger migrate` first"
        )
        assert "\n" not in message
    assert isinstance(refused.value, LakeError)  # the snapshot tasks' `except LakeError`
    assert not (folder / "_delta_log").exists()
    assert [p.relative_to(folder.parent).as_posix() for p in folder.rglob("*.parquet")] == [old]
    # The other dataset's folder holds no run file, so its table is created as usual.
    assert lake.table(RUN_LOG).version() == 0


def test_a_lake_lends_each_open_table_to_one_write_at_a_time_at_the_latest_version(
    lake: DeltaLake,
) -> None:
    first = lake.lend(OBSERVATIONS)
    second = lake.lend(OBSERVATIONS)  # while the first is out: another table
    assert first is not second
    lake.give_back(OBSERVATIONS, first)
    other = DeltaLake(lake.root)  # another process's writes, in effect
    delta_writer.replace_run(other, OBSERVATIONS, "x", "run-1", DAY, to_table(rows(3)))
    again = lake.lend(OBSERVATIONS)
    assert again is first
    assert again.version() == 1 == version(lake)  # caught up before the write
    lake.give_back(OBSERVATIONS, again)
    landing = Landing(lake, "x", "run-2", AT)
    landing.add(rows(4, run_id="run-2"))
    assert landing.commit() == 2
    kept = lake.lend(OBSERVATIONS)
    assert kept is first  # the landing used and gave back the same one
    lake.give_back(OBSERVATIONS, kept)
    assert table_rows(lake) == expected(rows(3) + rows(4, run_id="run-2"))
    for index in range(REOPEN_AFTER_VERSIONS):  # first was opened at version 0
        rows_of = to_table(rows(1, run_id=f"r{index}", platform="y"))
        delta_writer.replace_run(other, OBSERVATIONS, "y", f"r{index}", DAY, rows_of)
    reopened = lake.lend(OBSERVATIONS)
    assert reopened is not first  # caught up on too many versions: opened afresh
    assert reopened.version() == 2 + REOPEN_AFTER_VERSIONS


def test_a_table_whose_write_failed_is_never_lent_again(lake: DeltaLake) -> None:
    kept = lake.lend(OBSERVATIONS)
    lake.give_back(OBSERVATIONS, kept)
    with pytest.raises(DeltaLakeError, match="commit failed"):  # rows outside the predicate
        delta_writer.replace_run(lake, OBSERVATIONS, "y", "run-1", DAY, to_table(rows(2)))
    assert lake.lend(OBSERVATIONS) is not kept
    assert version(lake) == 0


def test_an_empty_table_reads_as_a_typed_empty_relation(lake: DeltaLake) -> None:
    relation = snapshot_relation(lake.snapshot(OBSERVATIONS))
    read = connect().sql(relation).arrow().read_all()
    assert read.num_rows == 0
    assert read.schema.names == OBSERVATIONS.table_schema.names


def test_a_run_record_lands_in_the_run_log_table_and_a_rerun_replaces_it(
    lake: DeltaLake,
) -> None:
    record = RunRecord("run-1", "x", AT, AT, 3, None, {"ok": 2, "error": 1}, "api")
    assert write_run_record(lake, record) == 1  # version 0 created the table
    assert write_run_record(lake, dataclasses.replace(record, requests=5)) == 2
    held = DeltaTable(lake.table_uri(RUN_LOG)).to_pyarrow_table()
    assert held.column("requests").to_pylist() == [5]
    assert held.column("date").to_pylist() == [DAY]
    assert lake.snapshot(RUN_LOG).rows == 1


def _sorted_rows(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted(
        (tuple(row.values()) for row in table.to_pylist()), key=lambda values: repr(values)
    )


def _eventually(check: object, timeout: float = 10.0) -> bool:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def s3_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DeltaLake]:
    """A Delta lake in a new bucket of a moto S3 server on 127.0.0.1, configured by the
    standard AWS variables only."""
    with moto_s3() as server:
        use_s3(monkeypatch, endpoint(server))
        create_bucket(endpoint(server), "lake-test")
        yield delta_lake_of(WarehouseLayout.at(tmp_path / "w", "s3://lake-test/prefix"))


def test_the_lake_on_s3_lands_replaces_and_lists_its_files(s3_lake: DeltaLake) -> None:
    assert s3_lake.storage_options == S3_OPTIONS
    for batch in (rows(5), rows(2, prefix="again")):
        landing = Landing(s3_lake, "x", "run-1", AT)
        landing.add(batch)
        landing.commit()
    other = Landing(s3_lake, "y", "run-1", AT, row_group_rows=2)  # streamed
    other.add(rows(4, platform="y"))
    assert other.commit() == 3
    snapshot = s3_lake.snapshot(OBSERVATIONS)
    assert snapshot.version == 3
    assert snapshot.rows == 6
    assert {f.platform for f in snapshot.files} == {"x", "y"}
    assert all(
        f.path.startswith(f"s3://lake-test/prefix/observations/platform={f.platform}/date=")
        for f in snapshot.files
    )
    held = DeltaTable(s3_lake.table_uri(OBSERVATIONS), storage_options=S3_OPTIONS)
    assert sorted(held.to_pyarrow_table().column("handle").to_pylist()) == sorted(
        ["again0", "again1", "h0", "h1", "h2", "h3"]
    )


def test_the_lake_on_s3_is_read_as_of_a_commits_time(s3_lake: DeltaLake) -> None:
    for batch in (rows(3), rows(1, prefix="again")):
        landing = Landing(s3_lake, "x", "run-1", AT)
        landing.add(batch)
        landing.commit()
    latest = s3_lake.snapshot(OBSERVATIONS)
    assert latest.version is not None
    times = [s3_lake.commit_time(OBSERVATIONS, v) for v in range(latest.version + 1)]
    assert times == sorted(times)
    # An object's time is to the second here (moto, like S3's listings), so versions made in
    # one second are not told apart by time: a second after the last commit is unambiguous.
    at_last = s3_lake.snapshot(OBSERVATIONS, as_of=times[-1] + timedelta(seconds=1))
    assert (at_last.version, at_last.rows) == (latest.version, 1)
    before = s3_lake.snapshot(OBSERVATIONS, as_of=times[0] - timedelta(days=1))
    assert (before.version, before.files) == (None, ())
    with pytest.raises(DeltaLakeError, match="no longer holds version 99") as raised:
        s3_lake.commit_time(OBSERVATIONS, 99)
    assert "test-secret-never-shown" not in str(raised.value)


def test_a_run_id_landed_again_after_midnight_replaces_its_rows_of_the_day_before(
    lake: DeltaLake,
) -> None:
    # `snapshot --run-id` again the next day: the run starts on a new UTC day, so its rows
    # land under a new date; the rows it landed under its first day must go.
    write_observations(lake, "x", "run-1", AT, rows(3))
    write_observations(lake, "y", "run-1", AT, rows(2, platform="y"))
    write_run_record(lake, run_log.summarize("run-1", "x", AT, AT, rows(3), Usage(1)))
    later = AT + timedelta(minutes=2)  # 00:01 the next day
    write_observations(lake, "x", "run-1", later, rows(4, prefix="again"))
    write_run_record(
        lake, run_log.summarize("run-1", "x", later, later, rows(4, prefix="again"), Usage(1))
    )

    assert sorted(table_rows(lake)) == sorted(
        expected(rows(4, prefix="again") + rows(2, platform="y"))
    )
    days = {(f.platform, f.day) for f in lake.snapshot(OBSERVATIONS).files}
    assert days == {("x", later.date()), ("y", DAY)}
    records = lake.snapshot(RUN_LOG)
    assert (records.rows, {f.day for f in records.files}) == (1, {later.date()})
