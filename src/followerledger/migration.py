"""`followerledger migrate`: turn a lake of run files into one Delta table per dataset.

Before: `<lake>/<dataset>/platform=<p>/date=<d>/<run_id>.parquet` (and `compacted-*.parquet`
files whose footers name the originals they supersede; the originals stay on disk for the
reader grace period). After: `<lake>/<dataset>/` is a Delta table partitioned by `platform`
and `date`, whose schema is the dataset's Arrow schema plus `date` (date32): the partition
date of the file each row came from (a snapshot's run start day, an import's UTC day of
`observed_at`; the path is today's truth, so it is copied, not recomputed).

How, per dataset, under the refresh lock (no refresh or compaction runs meanwhile):

1. Read the files that hold the dataset's rows now, by today's rule
   (`old_current_files`: superseded originals left out), and write them into a new Delta
   table at `WarehouseLayout.migration_staging(dataset)` in one `write_deltalake` commit.
   `convert_to_deltalake` in place is refused for this layout (spike Q7) and would count
   the superseded originals twice.
2. Check that the new table's row count is exactly the rows read.
3. Swap: one `renameat2(RENAME_EXCHANGE)` exchanges `<lake>/<dataset>` and the staging
   folder atomically; then the old files (now in the staging folder) are renamed into the
   backup folder `WarehouseLayout.migration_backup(stamp)/<dataset>`, laid out as the lake
   was. They are never deleted, and no reader lists them: readers read `<lake>/<dataset>`,
   and `vacuum(full=True)` on the table never reaches outside its root.
   Before the swap the journal (`WarehouseLayout.migration_journal`) records the backup
   folder and the keys of the files the table was built from.
4. Files that landed in the old layout between step 1 and the swap (a snapshot of the old
   version running) are found in the backup (current files not in the journal's keys) and
   appended to the table in one more commit (version 1; made only while the table is still
   at version 0, so an interrupted append is redone once, never twice).

A kill (SIGKILL) at any point leaves each dataset's path holding either its old files or its
complete new table, never a mixture and never nothing (the exchange is one system call), and
the next `migrate` finishes from what is on disk and the journal: a staging folder that is
not yet swapped is only the dead attempt's own new files and is rebuilt; old files left in the
staging folder after the exchange are moved to the backup the journal names; a dataset the
journal lists gets its late files appended. The journal is removed when every dataset is
done. Where the filesystem has no exchange (not Linux, or a filesystem without it), two
renames are used instead, and a kill between them leaves the dataset's path empty until the
next `migrate` renames the finished table into place (the old files are then already in the
backup).

Local lakes only: an object store has no rename (the S3 spike's design: write under a new
prefix and point the lake setting at it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import errno
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Final, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

from followerledger import locks, pause
from followerledger.clock import utc_now
from followerledger.delta_lake import DATASETS, PARTITION_COLUMNS, TARGET_FILE_SIZE
from followerledger.lake import COMPACTED_PREFIX, SUPERSEDES, Lake, LakeFile, lake_of
from followerledger.layout import WarehouseLayout
from followerledger.manifest import replace_json

__all__ = [
    "CONFIGURATIONS",
    "DATASET_SCHEMAS",
    "PARTITIONS",
    "DatasetMigration",
    "MigrationError",
    "MigrationReport",
    "check_local",
    "is_delta_table",
    "migrate",
    "old_current_files",
]

#: The lake's datasets and their Arrow schemas as run files hold them.
#: Each dataset's row schema, partition columns, file size and table properties are the
#: lake's own (`delta_lake.DATASETS`): `migrate` creates exactly the tables a landing would.
DATASET_SCHEMAS: Final[dict[str, pa.Schema]] = {d.name: d.row_schema for d in DATASETS}
PARTITIONS: Final = list(PARTITION_COLUMNS)
CONFIGURATIONS: Final = {dataset.name: dataset.configuration for dataset in DATASETS}
_TABLE_SCHEMAS: Final = {dataset.name: dataset.table_schema for dataset in DATASETS}
_DELTA_LOG: Final = "_delta_log"
_RENAME_EXCHANGE: Final = 2
_AT_FDCWD: Final = -100


class MigrationError(RuntimeError):
    """The lake cannot be migrated as it is; the message says why (one line)."""


@dataclasses.dataclass(frozen=True, slots=True)
class DatasetMigration:
    """What `migrate` did to one dataset."""

    dataset: str
    #: Run files whose rows were copied, and superseded originals left out.
    files_read: int
    files_superseded: int
    rows: int
    #: Data files of the new table, and its version after the migration.
    files_written: int
    version: int
    #: Of `rows`, those from files that landed during the migration (step 4).
    late_rows: int = 0

    def describe(self) -> str:
        """One clause: rows and files."""
        notes = [f"version {self.version}"]
        if self.files_superseded:
            notes.insert(0, f"{self.files_superseded} superseded originals left out")
        if self.late_rows:
            notes.insert(0, f"{self.late_rows:,} rows landed meanwhile")
        return (
            f"{self.dataset}: {self.rows:,} rows from {self.files_read} run files into "
            f"{self.files_written} Delta files ({', '.join(notes)})"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class MigrationReport:
    """What `migrate` did: the datasets it migrated (or finished) and where the old files are."""

    datasets: tuple[DatasetMigration, ...]
    backup: Path | None
    seconds: float

    @property
    def nothing_to_migrate(self) -> bool:
        """Whether the lake already held Delta tables only."""
        return not self.datasets

    def describe(self) -> str:
        """The one-line summary the CLI prints."""
        if self.nothing_to_migrate:
            return "nothing to migrate: every lake dataset is already a Delta table"
        done = "; ".join(item.describe() for item in self.datasets)
        return f"migrated to Delta in {self.seconds:.1f} s: {done}; old files kept in {self.backup}"


def is_delta_table(path: Path) -> bool:
    """Whether a folder holds a committed Delta table (its first commit is in the log)."""
    return (path / _DELTA_LOG / f"{0:020d}.json").is_file()


def check_local(layout: WarehouseLayout) -> None:
    """MigrationError unless the layout's lake is a local folder (the swap is a rename)."""
    if not layout.lake_is_local:
        raise MigrationError(
            "migrate works on a local lake only (an object store has no rename); "
            "migrate a local copy and upload it"
        )


def migrate(layout: WarehouseLayout, *, clock: Callable[[], datetime] = utc_now) -> MigrationReport:
    """Migrate every dataset of the layout's (local) lake to a Delta table, or finish a
    migration that was interrupted; see the module docstring for the steps and their safety.
    MigrationError for a remote lake or a run file that does not fit its dataset."""
    check_local(layout)
    started = time.perf_counter()
    lake = lake_of(layout)
    lake.sweep_leftovers(layout)
    with locks.hold(layout, "refresh"):
        journal = _read_journal(layout)
        backup = (
            layout.migration / journal.backup
            if journal.backup
            else layout.migration_backup(f"{clock():%Y%m%dT%H%M%SZ}")
        )
        journal = dataclasses.replace(journal, backup=backup.name)
        done = [
            item
            for dataset in DATASET_SCHEMAS
            if (item := _migrate_dataset(layout, lake, dataset, journal)) is not None
        ]
        layout.migration_journal.unlink(missing_ok=True)
        for folder in (layout.migration / "staging", layout.migration):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
    return MigrationReport(tuple(done), backup if done else None, time.perf_counter() - started)


@dataclasses.dataclass(frozen=True, slots=True)
class _Journal:
    """A migration in progress: its backup folder's name, and per dataset swapped (or about
    to be) the keys of the run files its table was built from."""

    backup: str | None = None
    copied: dict[str, list[str]] = dataclasses.field(default_factory=dict)


def _read_journal(layout: WarehouseLayout) -> _Journal:
    """The interrupted migration's journal, or an empty one."""
    try:
        data = json.loads(layout.migration_journal.read_text(encoding="utf-8"))
        return _Journal(str(data["backup"]), {k: list(v) for k, v in data["copied"].items()})
    except (FileNotFoundError, ValueError, KeyError, TypeError, AttributeError):
        return _Journal()


def _migrate_dataset(
    layout: WarehouseLayout, lake: Lake, dataset: str, journal: _Journal
) -> DatasetMigration | None:
    """Migrate (or finish migrating) one dataset; None when there is nothing to do."""
    backup = layout.migration / str(journal.backup)
    live, staging, moved = (
        layout.lake_dataset(dataset),
        layout.migration_staging(dataset),
        backup / dataset,
    )
    copied = journal.copied.get(dataset)
    if is_delta_table(live):
        stray = _run_files_inside(live)
        if stray and _table_files(DeltaTable(str(live))) == (0, 0):
            # An empty table created over the old folder (a new version opened the lake
            # before `migrate`): its log goes to the backup, and the folder migrates as usual.
            backup.mkdir(parents=True, exist_ok=True)
            os.rename(live / _DELTA_LOG, backup / f"{dataset}-delta-log-created-over-run-files")
        elif stray:
            # Rows were committed to a table created over the old folder: the run files are
            # invisible to it, and its `vacuum(full=True)` would delete them.
            raise MigrationError(
                f"{dataset}: a Delta table with rows was created over {len(stray)} run files "
                f"it does not name (e.g. {stray[0]}); do not vacuum or compact it"
            )
    if is_delta_table(live):
        if staging.exists():
            # Killed after the exchange: the staging folder holds the old files.
            return _finish(live, staging, moved, backup, dataset, copied)
        if copied is not None:
            # Killed after the old files reached the backup, before the migration ended.
            return _finish(live, None, moved, backup, dataset, copied)
        return None
    if not live.exists():
        if is_delta_table(staging):
            # Killed between the two renames of the fallback: the old files are in the backup.
            os.rename(staging, live)
            return _finish(live, None, moved, backup, dataset, copied)
        return None
    if staging.exists():
        # A dead attempt's unfinished table: only its own new files, never an old one.
        shutil.rmtree(staging)
    files = old_current_files(lake, dataset)
    rows = _write_table(staging, lake, files, dataset, mode="error")
    committed, _ = _table_files(DeltaTable(str(staging)))
    if committed != rows:
        raise MigrationError(
            f"{dataset}: the new table holds {committed} rows, not the {rows} read; "
            f"the lake is unchanged ({staging} can be deleted)"
        )
    keys = sorted(item.key for item in files)
    journal.copied[dataset] = keys
    backup.mkdir(parents=True, exist_ok=True)
    replace_json(layout.migration_journal, {"backup": journal.backup, "copied": journal.copied})
    pause.point("migrate-staged")
    if _exchange(live, staging):
        pause.point("migrate-exchanged")
        return _finish(live, staging, moved, backup, dataset, keys)
    os.rename(live, moved)
    pause.point("migrate-renamed")
    os.rename(staging, live)
    return _finish(live, None, moved, backup, dataset, keys)


def old_current_files(lake: Lake, dataset: str) -> list[LakeFile]:
    """The old layout's files that hold a dataset's rows: every run file, less those a
    `compacted-*.parquet` file present in the folder names in its footer (the originals
    stayed on disk for the reader grace period)."""
    files = lake.list(dataset)
    superseded: set[str] = set()
    for item in files:
        if item.key.rsplit("/", 1)[-1].startswith(COMPACTED_PREFIX):
            superseded.update(json.loads(lake.footer(item.key)[SUPERSEDES]))
    return [item for item in files if item.key not in superseded]


def _finish(
    live: Path,
    old_files: Path | None,
    moved: Path,
    backup: Path,
    dataset: str,
    copied: Sequence[str] | None,
) -> DatasetMigration:
    """After the swap: move the old files (if still beside the staging area) to the backup,
    append the current files the table was not built from (`copied`: landed in the old
    layout meanwhile) unless that commit was made already, and report the table as it is."""
    if old_files is not None:
        moved.parent.mkdir(parents=True, exist_ok=True)
        os.rename(old_files, moved)
    old = Lake(backup)
    current = old_current_files(old, dataset)
    table = DeltaTable(str(live))
    late: list[LakeFile] = []
    # Version 0 is the migration's one commit; the append of late files is version 1.
    if copied is not None and table.version() == 0:
        known = set(copied)
        late = [item for item in current if item.key not in known]
    late_rows = _write_table(live, old, late, dataset, mode="append") if late else 0
    table = DeltaTable(str(live))
    rows, written = _table_files(table)
    return DatasetMigration(
        dataset,
        files_read=len(current),
        files_superseded=len(old.list(dataset)) - len(current),
        rows=rows,
        files_written=written,
        version=table.version(),
        late_rows=late_rows,
    )


def _write_table(
    target: Path,
    lake: Lake,
    files: Sequence[LakeFile],
    dataset: str,
    *,
    mode: Literal["error", "append"],
) -> int:
    """Write the files' rows into the Delta table at `target` in one commit; the rows read."""
    schema = DATASET_SCHEMAS[dataset]
    shape = _TABLE_SCHEMAS[dataset]
    for item in files:
        # The footers first: a file that does not fit is refused before anything is written.
        unknown = set(pq.read_schema(lake.path(item.key)).names) - set(schema.names)
        if unknown:
            raise MigrationError(f"{item.key}: columns {sorted(unknown)} are not in the dataset")
    read = [0]
    refused: list[MigrationError] = []

    def batches() -> Iterator[pa.RecordBatch]:
        # Runs on a delta-rs worker thread: pyarrow only, never a `deltalake` call (spike Q1).
        for item in files:
            try:
                table = _conformed(lake, item, schema, shape)
            except MigrationError as error:
                refused.append(error)
                raise
            read[0] += table.num_rows
            yield from table.to_batches()
            pause.point("migrate-write")

    try:
        write_deltalake(
            str(target),
            pa.RecordBatchReader.from_batches(shape, batches()),
            partition_by=PARTITIONS,
            mode=mode,
            target_file_size=TARGET_FILE_SIZE,
            # As `delta_lake.DeltaLake.table` creates tables (branch i14-delta-core).
            configuration=CONFIGURATIONS[dataset] if mode == "error" else None,
        )
    except Exception:
        # delta-rs wraps the generator's error in its own; the lake's is the one to say.
        if refused:
            raise refused[0] from None
        raise
    return read[0]


def _conformed(lake: Lake, item: LakeFile, schema: pa.Schema, shape: pa.Schema) -> pa.Table:
    """One run file's rows in the table's shape: columns it predates as nulls, its partition
    date from its path; MigrationError for a column the dataset does not have or rows of
    another platform than its path's."""
    table = pq.read_table(lake.path(item.key), partitioning=None)
    unknown = set(table.column_names) - set(schema.names)
    if unknown:
        raise MigrationError(f"{item.key}: columns {sorted(unknown)} are not in the dataset")
    if table.num_rows and not pc.all(pc.equal(table["platform"], item.platform)).as_py():
        raise MigrationError(f"{item.key}: holds rows of another platform than its folder's")
    columns = [
        table[field.name].cast(field.type)
        if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    day: date = item.day
    columns.append(pa.array([day] * table.num_rows, pa.date32()))
    return pa.Table.from_arrays(columns, schema=shape)


def _run_files_inside(table: Path) -> list[str]:
    """Run files of the old layout inside a Delta table's folder (delta-rs names its data
    files `part-…`; the log's own files are under `_delta_log/`)."""
    found = []
    for folder, children, names in os.walk(table):
        if folder == str(table):
            children[:] = [name for name in children if name != _DELTA_LOG]
        found += [
            os.path.relpath(os.path.join(folder, name), table)
            for name in names
            if name.endswith(".parquet") and not name.startswith(("part-", "."))
        ]
    return sorted(found)


def _table_files(table: DeltaTable) -> tuple[int, int]:
    """The rows a Delta table's current files hold and how many files, from its log."""
    actions = pa.table(table.get_add_actions(flatten=True))
    if not actions.num_rows:
        return 0, 0
    return int(pc.sum(actions["num_records"]).as_py() or 0), actions.num_rows


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one system call (Linux `renameat2(RENAME_EXCHANGE)`); False where
    the system or filesystem has no such call (the caller renames twice instead)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    call = getattr(libc, "renameat2", None)
    if call is None:
        return False
    result = call(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(first))
