"""`followerledger migrate`: a lake of run files becomes Delta tables, every row exactly once.

The old layout's lakes are written by `tests.old_lake` (nothing in the package writes run
files any more); "before" is what their current files hold, read by DuckDB."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable, write_deltalake

from followerledger import migration, pause
from followerledger.cli import main
from followerledger.delta_lake import (
    DATASETS,
    OBSERVATIONS,
    TARGET_FILE_SIZE,
    MigrationNeeded,
    delta_lake_of,
)
from followerledger.demo import DEMO_WATCHLIST, write_generated_history
from followerledger.history_import import import_history, read_history
from followerledger.lake import LakeFile, is_compacted
from followerledger.layout import WarehouseLayout
from followerledger.migration import (
    DATASET_SCHEMAS,
    MigrationError,
    is_delta_table,
    migrate,
    old_current_files,
)
from followerledger.models import DAILY, LAKE_DATASETS, SNAPSHOT, VIEWS
from followerledger.models.duckdb_sql import quote_name
from followerledger.observation import Observation
from followerledger.refresh import refresh
from followerledger.watchlist import Watchlist, load_watchlist
from tests import old_lake
from tests.tiny import land, obs, query

WATCHLIST = """\
brands:
  Alpha:
    x: [alpha, gamma]
    bluesky: [alpha.test]
"""
ROOT = Path(__file__).resolve().parent.parent
#: "Now" for the world: days before 2026-11-10 are closed, so compaction merges them.
NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)
DAY = timedelta(days=1)
#: A run landed by a version that predates the `requested_handle` column, alone in its day
#: (so compaction left its file as it was).
PREDATING_RUN = "20261105T0900-run"


def run_rows(run_id: str, when: datetime) -> list[Observation]:
    """One snapshot run: two X accounts (one not found) and one Bluesky account."""
    hour = int(when.timestamp() // 3600) % 97
    return [
        obs(run_id, when, "x", "alpha", 1000 + hour, "x-1"),
        obs(run_id, when, "x", "gamma", None, None, status="not_found"),
        obs(run_id, when, "bluesky", "alpha.test", 500 + hour, "did:plc:alpha"),
    ]


def build_lake(root: Path) -> WarehouseLayout:
    """An old-layout lake: three closed days of four runs each, an older run from before
    `requested_handle`, a run today, an import, then the old compaction, whose superseded
    originals stay on disk (within the reader grace period)."""
    (root / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    layout = WarehouseLayout.at(root / "warehouse")
    lake = old_lake.old_lake(layout)
    predating = datetime(2026, 11, 5, 9, tzinfo=UTC)
    old_lake.write_run(
        lake,
        PREDATING_RUN,
        predating,
        run_rows(PREDATING_RUN, predating),
        drop=["requested_handle"],
    )
    for day in range(3):
        for run in range(4):
            # Runs start late in the day and observe after midnight: the partition date is
            # the run's start day, not the rows' observed day.
            started = NOW - (3 - day) * DAY + timedelta(hours=6 * run - 1)
            run_id = f"{started:%Y%m%dT%H%M}-run"
            old_lake.write_run(
                lake, run_id, started, run_rows(run_id, started + timedelta(minutes=70))
            )
    old_lake.write_run(lake, "today-run", NOW - timedelta(hours=1), run_rows("today-run", NOW))
    history = root / "history.csv"
    history.write_text(
        "observed_at,platform,handle,followers\n"
        "2026-11-01T06:30:00Z,x,alpha,900\n"
        "2026-11-02T06:30:00Z,x,alpha,910\n"
        "2026-11-02T07:30:00Z,bluesky,alpha.test,400\n",
        encoding="utf-8",
    )
    old_lake.write_import(lake, *read_history(history, clock=lambda: NOW))
    assert old_lake.compact(lake, NOW) > 0
    return layout


def watchlist_of(layout: WarehouseLayout) -> Watchlist:
    """The watchlist `build_lake` wrote beside the warehouse."""
    return load_watchlist(layout.warehouse.parent / "watchlist.yaml")


def parquet_files(folder: Path) -> list[Path]:
    """Every Parquet file under a folder (the Delta log's own files aside)."""
    return sorted(path for path in folder.rglob("*.parquet") if "_delta_log" not in path.parts)


def old_rows(layout: WarehouseLayout, dataset: str) -> list[tuple[object, ...]]:
    """The dataset's rows as the old layout's current files hold them, ordered."""
    return old_lake.current_rows(old_lake.old_lake(layout), dataset)


def delta_rows(layout: WarehouseLayout, dataset: str) -> list[tuple[object, ...]]:
    """The Delta table's rows, read by deltalake and ordered by DuckDB like `old_rows`."""
    table = DeltaTable(str(layout.lake_dataset(dataset))).to_pyarrow_table()
    columns = ", ".join(DATASET_SCHEMAS[dataset].names)
    with duckdb.connect() as connection:
        connection.execute("set TimeZone = 'UTC'")
        connection.register("delta_rows", table)
        return connection.sql(f"select {columns} from delta_rows order by all").fetchall()


def catalog_rows(layout: WarehouseLayout, dataset: str) -> list[tuple[object, ...]]:
    """The dataset's rows as the published catalog shows them, in the schema's columns."""
    columns = ", ".join(DATASET_SCHEMAS[dataset].names)
    return query(layout.warehouse, f"select {columns} from {dataset} order by all")


@pytest.fixture
def layout(tmp_path: Path) -> WarehouseLayout:
    return build_lake(tmp_path)


def test_every_current_row_lands_once_and_the_old_files_are_kept(layout: WarehouseLayout) -> None:
    lake = old_lake.old_lake(layout)
    before = {dataset: old_rows(layout, dataset) for dataset in DATASET_SCHEMAS}
    on_disk = parquet_files(layout.local_lake)
    listed = lake.list("observations")
    current = old_current_files(lake, "observations")
    # The world holds what makes a naive copy wrong: compacted files beside their originals,
    # and a file that predates a column.
    assert any(is_compacted(item.key) for item in current)
    assert len(listed) > len(current)
    assert any(row[-1] is None and row[0] == PREDATING_RUN for row in before["observations"])

    report = migrate(layout, clock=lambda: NOW)

    by_name = {item.dataset: item for item in report.datasets}
    assert set(by_name) == set(DATASET_SCHEMAS)
    for dataset, rows in before.items():
        assert is_delta_table(layout.lake_dataset(dataset))
        assert by_name[dataset].rows == len(rows)
        assert delta_rows(layout, dataset) == rows
    assert by_name["observations"].files_superseded == len(listed) - len(current)
    assert by_name["observations"].files_read == len(current)
    # Every old file, superseded ones included, moved as it was into the dated backup.
    assert report.backup == layout.migration_backup("20261110T120000Z")
    assert sorted(path.relative_to(report.backup) for path in parquet_files(report.backup)) == (
        sorted(path.relative_to(layout.local_lake) for path in on_disk)
    )
    assert not (layout.migration / "staging").exists()
    assert not layout.migration_journal.exists()
    assert "observations" in report.describe()
    assert str(report.backup) in report.describe()


def test_the_date_column_is_the_partition_date_of_each_row(layout: WarehouseLayout) -> None:
    lake = old_lake.old_lake(layout)
    expected = sorted(
        {
            (row["run_id"], item.platform, item.day)
            for item in old_current_files(lake, "observations")
            for row in lake.read(item.key).select(["run_id"]).to_pylist()
        }
    )
    migrate(layout)
    frame = (
        pl.scan_delta(str(layout.lake_dataset("observations")))
        .select("run_id", "platform", "date")
        .unique()
        .sort("run_id", "platform", "date")
        .collect()
    )
    assert list(frame.iter_rows()) == expected
    # A run that started before midnight keeps its start day though its rows came after.
    late = [row for row in frame.iter_rows() if row[0] == "20261107T1700-run"]
    assert {row[2].isoformat() for row in late} == {"2026-11-07"}


def test_polars_counts_exactly_the_warehouse_rows(layout: WarehouseLayout) -> None:
    counts = {dataset: len(old_rows(layout, dataset)) for dataset in DATASET_SCHEMAS}
    migrate(layout)
    refresh(layout, watchlist_of(layout), full=True, clock=lambda: NOW)
    for dataset, count in counts.items():
        scanned = pl.scan_delta(str(layout.lake_dataset(dataset))).select(pl.len()).collect()
        assert scanned.item() == count
        assert query(layout.warehouse, f"select count(*) from {dataset}") == [(count,)]


def test_a_second_migrate_is_a_no_op(layout: WarehouseLayout) -> None:
    migrate(layout)
    versions = {d: DeltaTable(str(layout.lake_dataset(d))).version() for d in DATASET_SCHEMAS}
    again = migrate(layout)
    assert again.nothing_to_migrate
    assert again.describe().startswith("nothing to migrate")
    assert versions == {
        d: DeltaTable(str(layout.lake_dataset(d))).version() for d in DATASET_SCHEMAS
    }


def test_an_interrupted_attempt_is_finished_by_the_next(
    layout: WarehouseLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = old_rows(layout, "observations")
    finish = migration._finish

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed right after the exchange")

    # A dead attempt's unfinished table in the staging folder, then a kill right after the
    # first dataset's exchange: its path holds the new table, the staging folder the old files.
    junk = layout.migration_staging("observations") / "platform=x" / "part-dead.parquet"
    junk.parent.mkdir(parents=True)
    junk.write_bytes(b"half a file")
    monkeypatch.setattr(migration, "_finish", killed)
    with pytest.raises(KeyboardInterrupt):
        migrate(layout, clock=lambda: NOW)
    assert is_delta_table(layout.lake_dataset("observations"))
    assert not is_delta_table(layout.lake_dataset("run_log"))
    assert layout.migration_journal.exists()
    assert delta_rows(layout, "observations") == before

    monkeypatch.setattr(migration, "_finish", finish)
    report = migrate(layout, clock=lambda: NOW + DAY)
    assert {item.dataset for item in report.datasets} == set(DATASET_SCHEMAS)
    # The journal's backup folder is kept across the attempts.
    assert report.backup == layout.migration_backup("20261110T120000Z")
    assert (report.backup / "observations").is_dir()
    assert (report.backup / "run_log").is_dir()
    assert delta_rows(layout, "observations") == before
    assert not list(report.backup.rglob("part-dead.parquet"))


def test_without_an_exchange_two_renames_do(
    layout: WarehouseLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = old_rows(layout, "run_log")
    monkeypatch.setattr(migration, "_exchange", lambda first, second: False)
    report = migrate(layout)
    assert {item.dataset for item in report.datasets} == set(DATASET_SCHEMAS)
    assert delta_rows(layout, "run_log") == before


def test_files_landing_during_the_migration_are_appended(
    layout: WarehouseLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = old_lake.old_lake(layout)
    exchange = migration._exchange

    def exchange_after_a_landing(first: Path, second: Path) -> bool:
        if first.name == "observations":
            # The old version's snapshot, still running, lands a run in the old layout.
            when = NOW + timedelta(minutes=5)
            old_lake.write_run(lake, "meanwhile-run", when, run_rows("meanwhile-run", when)[2:])
        return exchange(first, second)

    before = len(old_rows(layout, "observations"))
    monkeypatch.setattr(migration, "_exchange", exchange_after_a_landing)
    report = migrate(layout)
    observations = next(item for item in report.datasets if item.dataset == "observations")
    assert observations.late_rows == 1
    assert observations.rows == before + 1
    table = pl.scan_delta(str(layout.lake_dataset("observations")))
    assert table.filter(pl.col("run_id") == "meanwhile-run").select(pl.len()).collect().item() == 1


def test_a_remote_lake_is_refused() -> None:
    layout = WarehouseLayout.at(Path("warehouse"), "s3://bucket/lake")
    with pytest.raises(MigrationError, match="local lake"):
        migrate(layout)


def test_the_command_migrates_then_refreshes_and_says_both(
    layout: WarehouseLayout, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    counts = {dataset: len(old_rows(layout, dataset)) for dataset in DATASET_SCHEMAS}
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(layout.warehouse))
    monkeypatch.delenv("FOLLOWERLEDGER_LAKE", raising=False)
    monkeypatch.delenv("FOLLOWERLEDGER_WATCHLIST", raising=False)
    first = CliRunner().invoke(main, ["migrate"])
    assert first.exit_code == 0, first.output
    lines = first.output.strip().splitlines()
    assert len(lines) == 2, first.output
    assert lines[0].startswith("migrated to Delta")
    assert "observations" in lines[0]
    assert "run_log" in lines[0]
    assert "backup-" in lines[0]
    assert lines[1].startswith("refresh (full rebuild)")
    # The catalog the refresh published reads the tables.
    for dataset, count in counts.items():
        assert query(layout.warehouse, f"select count(*) from {dataset}") == [(count,)]
    published = layout.catalog.stat().st_mtime_ns, layout.manifest.read_bytes()

    second = CliRunner().invoke(main, ["migrate"])
    assert second.exit_code == 0, second.output
    assert second.output.strip().splitlines() == [
        "nothing to migrate: every lake dataset is already a Delta table"
    ]
    # No refresh: the catalog and the manifest are the first run's.
    assert (layout.catalog.stat().st_mtime_ns, layout.manifest.read_bytes()) == published


def test_the_command_refuses_a_remote_lake_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    # A valid watchlist (the command reads it first, for its refresh): only the lake is wrong.
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    monkeypatch.delenv("FOLLOWERLEDGER_WATCHLIST", raising=False)
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("FOLLOWERLEDGER_LAKE", "s3://bucket/lake")
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "local lake" in result.output


def test_a_file_that_does_not_fit_its_dataset_is_refused_before_anything_moves(
    layout: WarehouseLayout,
) -> None:
    lake = old_lake.old_lake(layout)
    key = "observations/platform=x/date=2026-11-09/odd.parquet"
    lake.write(key, pa.table({"run_id": ["odd"], "surprise": [1]}))
    with pytest.raises(MigrationError, match="surprise"):
        migrate(layout)
    assert not is_delta_table(layout.lake_dataset("observations"))
    assert (layout.local_lake / key).is_file()


def test_rows_of_another_platform_are_refused_and_nothing_moves(layout: WarehouseLayout) -> None:
    lake = old_lake.old_lake(layout)
    source = next(item for item in lake.list("observations") if item.platform == "bluesky")
    key = "observations/platform=x/date=2026-11-09/moved.parquet"
    lake.write(key, lake.read(source.key))
    with pytest.raises(MigrationError, match="another platform"):
        migrate(layout)
    assert not is_delta_table(layout.lake_dataset("observations"))
    assert (layout.local_lake / key).is_file()


#: Runs `migrate` on the warehouse given as argv[1]; argv[2] == "renames" takes the two-rename
#: path (a filesystem without an exchange).
KILLED_MIGRATE = """
import sys
from pathlib import Path
from followerledger import migration
from followerledger.layout import WarehouseLayout
if sys.argv[2] == "renames":
    migration._exchange = lambda first, second: False
migration.migrate(WarehouseLayout.at(Path(sys.argv[1])))
"""


def readable(
    layout: WarehouseLayout, dataset: str
) -> tuple[list[tuple[object, ...]], list[LakeFile] | None]:
    """What a reader finds at a dataset's path: the Delta table's rows (and no run files),
    or, while the old run files are still there, their rows and their listing."""
    if is_delta_table(layout.lake_dataset(dataset)):
        return delta_rows(layout, dataset), None
    assert layout.lake_dataset(dataset).is_dir(), f"{dataset}: nothing at its path"
    return old_rows(layout, dataset), old_lake.old_lake(layout).list(dataset)


@pytest.mark.parametrize(
    ("point", "path"),
    [
        ("migrate-write@2", "exchange"),
        ("migrate-staged", "exchange"),
        ("migrate-exchanged", "exchange"),
        ("migrate-staged@2", "exchange"),
        ("migrate-exchanged@2", "exchange"),
        ("migrate-renamed", "renames"),
    ],
)
def test_a_sigkill_at_any_step_leaves_every_dataset_readable_and_migrate_finishes(
    layout: WarehouseLayout, tmp_path: Path, point: str, path: str
) -> None:
    before = {dataset: old_rows(layout, dataset) for dataset in DATASET_SCHEMAS}
    listed = {dataset: old_lake.old_lake(layout).list(dataset) for dataset in DATASET_SCHEMAS}
    signal_file = tmp_path / "paused"
    environment = {
        **os.environ,
        pause.PAUSE_AT: point,
        pause.PAUSE_SIGNAL: str(signal_file),
    }
    script = [sys.executable, "-c", KILLED_MIGRATE, str(layout.warehouse), path]
    with subprocess.Popen(script, env=environment, cwd=ROOT) as child:
        deadline = time.monotonic() + 60
        while not signal_file.exists():
            assert child.poll() is None, "migrate ended before its pause point"
            assert time.monotonic() < deadline, "migrate never reached its pause point"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
    if point != "migrate-renamed":
        # The fallback's window between its renames has nothing at the path (module doc).
        found = {dataset: readable(layout, dataset) for dataset in DATASET_SCHEMAS}
        for dataset, rows in before.items():
            rows_found, files = found[dataset]
            assert rows_found == rows
            # An unmigrated dataset's run files are intact: the same files, untouched.
            assert files is None or files == listed[dataset]
        # The second dataset is swapped only after the first: a kill before it leaves the
        # first migrated and the second's run files in place.
        migrated = [d for d in DATASET_SCHEMAS if is_delta_table(layout.lake_dataset(d))]
        assert migrated == list(DATASET_SCHEMAS)[: len(migrated)]
    if layout.migration_journal.exists():
        # Unfinished: nothing may land in (or read) a half-migrated lake, even a dataset
        # already swapped, since late files still wait in the backup for its version 1.
        for table in DATASETS:
            with pytest.raises(MigrationNeeded, match="unfinished"):
                delta_lake_of(layout).snapshot(table)
    report = migrate(layout)
    assert report.backup is not None
    for dataset, rows in before.items():
        assert is_delta_table(layout.lake_dataset(dataset))
        assert delta_rows(layout, dataset) == rows
        assert (report.backup / dataset).is_dir()
    assert not (layout.migration / "staging").exists()
    assert migrate(layout).nothing_to_migrate


#: The catalog's relations besides the lake's views and the marts: seeds and the watchlist.
OTHER_RELATIONS = {"platform_events", "watchlist", "landscapes"}


def relations(warehouse: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every relation of the published catalog, each with all its rows ordered by all."""
    names = [
        name
        for (name,) in query(
            warehouse,
            "select table_name from information_schema.tables "
            "where table_catalog = current_database() order by all",
        )
    ]
    return {
        name: query(warehouse, f"select * from {quote_name(name)} order by all") for name in names
    }


def test_the_demo_lake_migrates_to_the_warehouse_a_native_delta_lake_builds(tmp_path: Path) -> None:
    """The demo's lake without its Prefect snapshot (that costs a server start): its 90-day
    generated history and the 2008 figures imported, one snapshot run landed, compacted, in
    the old layout; migrated and refreshed, every catalog relation equals that of a
    warehouse whose Delta lake landed the same rows natively."""
    watchlist = load_watchlist(ROOT / DEMO_WATCHLIST)
    write_generated_history(watchlist, tmp_path / "history.csv", NOW)
    imports = [
        read_history(path, clock=lambda: NOW)
        for path in (tmp_path / "history.csv", ROOT / "examples" / "dell-2008.csv")
    ]
    run = ("demo-run", NOW - DAY, run_rows("demo-run", NOW - DAY))

    layout = WarehouseLayout.at(tmp_path / "migrated" / "warehouse")
    lake = old_lake.old_lake(layout)
    for run_id, imported in imports:
        old_lake.write_import(lake, run_id, imported)
    old_lake.write_run(lake, *run)
    assert old_lake.compact(lake, NOW) > 0
    before = {dataset: old_rows(layout, dataset) for dataset in DATASET_SCHEMAS}
    assert len(before["observations"]) > 8000

    report = migrate(layout, clock=lambda: NOW)
    refresh(layout, watchlist, full=True, clock=lambda: NOW)

    assert {item.dataset for item in report.datasets} == set(DATASET_SCHEMAS)
    for dataset, rows in before.items():
        assert delta_rows(layout, dataset) == rows
        scanned = pl.scan_delta(str(layout.lake_dataset(dataset))).select(pl.len()).collect()
        assert scanned.item() == len(rows)

    native = WarehouseLayout.at(tmp_path / "native" / "warehouse")
    delta = delta_lake_of(native)
    for path in (tmp_path / "history.csv", ROOT / "examples" / "dell-2008.csv"):
        import_history(path, native, clock=lambda: NOW)  # one commit, partitioned by UTC day
    land(delta, run)
    refresh(native, watchlist, full=True, clock=lambda: NOW)

    migrated, expected = relations(layout.warehouse), relations(native.warehouse)
    names = {*LAKE_DATASETS, *(model.name for model in DAILY + SNAPSHOT + VIEWS)}
    assert set(expected) == names | OTHER_RELATIONS
    assert set(migrated) == set(expected)
    for name, relation in expected.items():
        assert migrated[name] == relation, name
    assert expected["observations"]
    assert expected["daily_followers"]


def test_late_files_are_appended_once_when_the_append_is_interrupted(
    layout: WarehouseLayout, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = old_lake.old_lake(layout)
    exchange, write_table = migration._exchange, migration._write_table

    def exchange_after_a_landing(first: Path, second: Path) -> bool:
        if first.name == "observations":
            when = NOW + timedelta(minutes=5)
            old_lake.write_run(lake, "meanwhile-run", when, run_rows("meanwhile-run", when))
        return exchange(first, second)

    def killed_appending(*args: Any, **kwargs: Any) -> int:
        if kwargs["mode"] == "append":
            raise KeyboardInterrupt("killed while appending the late files")
        return write_table(*args, **kwargs)

    before = len(old_rows(layout, "observations"))
    monkeypatch.setattr(migration, "_exchange", exchange_after_a_landing)
    monkeypatch.setattr(migration, "_write_table", killed_appending)
    with pytest.raises(KeyboardInterrupt):
        migrate(layout)
    monkeypatch.setattr(migration, "_exchange", exchange)
    monkeypatch.setattr(migration, "_write_table", write_table)
    report = migrate(layout)
    observations = next(item for item in report.datasets if item.dataset == "observations")
    assert observations.late_rows == 3
    assert migrate(layout).nothing_to_migrate
    scanned = pl.scan_delta(str(layout.lake_dataset("observations"))).select(pl.len()).collect()
    assert scanned.item() == before + 3


def test_an_empty_table_created_over_the_old_files_is_set_aside_and_the_files_migrate(
    layout: WarehouseLayout,
) -> None:
    # What a new version's "create the table if absent" did to an unmigrated lake before
    # `DeltaLake.table` refused to (MigrationNeeded).
    before = old_rows(layout, "observations")
    folder = layout.lake_dataset("observations")
    shape = OBSERVATIONS.table_schema
    DeltaTable.create(str(folder), shape, partition_by=migration.PARTITIONS)
    report = migrate(layout, clock=lambda: NOW)
    assert delta_rows(layout, "observations") == before
    assert report.backup is not None
    assert (report.backup / "observations-delta-log-created-over-run-files").is_dir()


def test_a_table_with_rows_over_the_old_files_is_refused_not_taken_as_migrated(
    layout: WarehouseLayout,
) -> None:
    lake = old_lake.old_lake(layout)
    folder = layout.lake_dataset("observations")
    schema = DATASET_SCHEMAS["observations"]
    first = old_current_files(lake, "observations")[0]
    rows = migration._conformed(lake, first, schema, OBSERVATIONS.table_schema)
    write_deltalake(str(folder), rows, partition_by=migration.PARTITIONS)
    with pytest.raises(MigrationError, match="created over"):
        migrate(layout)
    assert (folder / first.key.removeprefix("observations/")).is_file()


def test_the_tables_carry_the_cores_configuration(layout: WarehouseLayout) -> None:
    migrate(layout)
    for dataset in DATASETS:
        table = DeltaTable(str(layout.lake_dataset(dataset.name)))
        configuration = table.metadata().configuration
        assert configuration == dataset.configuration  # as `DeltaLake.table` creates them
        assert configuration["delta.targetFileSize"] == str(TARGET_FILE_SIZE)
        stats = pa.table(table.get_add_actions(flatten=True)).column_names
        assert {name for name in stats if name.startswith("min.")} == {
            f"min.{column}" for column in dataset.stats_columns
        }


@pytest.mark.parametrize(
    "command",
    [["refresh"], ["compact"], ["import", "h.csv"], ["snapshot", "--platform", "bluesky"]],
    ids=" ".join,
)
def test_an_unmigrated_lake_is_one_line_saying_to_migrate_and_nothing_changes(
    layout: WarehouseLayout, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    (layout.warehouse.parent / "h.csv").write_text(
        "observed_at,platform,handle,followers\n2026-11-01T06:30:00Z,x,alpha,1\n", encoding="utf-8"
    )
    monkeypatch.chdir(layout.warehouse.parent)
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(layout.warehouse))
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(layout.warehouse.parent / "watchlist.yaml"))
    before = sorted(str(path) for path in layout.local_lake.rglob("*"))

    result = CliRunner().invoke(main, command)

    assert result.exit_code == 2, result.output
    folder = layout.lake_dataset("observations")
    assert result.output == (
        f"followerledger: error: {folder} holds run files of the old lake layout and no Delta "
        "table; run `followerledger migrate` first\n"
    )
    assert sorted(str(path) for path in layout.local_lake.rglob("*")) == before
