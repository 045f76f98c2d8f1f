"""The lake as Delta tables (issue 14): one table per dataset at `<lake>/<dataset>/`,
partitioned by `platform` and `date`, written and read through delta-rs (`deltalake`).

A dataset's row schema stays the contract (`observation.OBSERVATION_SCHEMA`,
`run_log.RUN_LOG_SCHEMA`); its table schema is that plus `date` (date32, the run's UTC start
date), because a Delta partition value must be a column of the table. Partition columns are
not stored in the data files: they live in the log and in the Hive-style path
(`platform=<p>/date=<d>/part-….parquet`) delta-rs writes.

The transaction log is the commit protocol: a version names exactly the current files
(`DeltaLake.snapshot`), a writer killed mid-write leaves only files no version names, and
`vacuum(full=True)` removes those once they are older than the retention. Streaming one run
into a table is `delta_writer.DeltaRunWriter`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError
from deltalake.schema import Field
from pyarrow import fs as pafs

from followerledger.errors import ConfigError
from followerledger.lake import LakeError
from followerledger.lake_filesystem import ENDPOINT_ENV, KEY_SETTINGS
from followerledger.layout import LAKE_ENV, WarehouseLayout
from followerledger.observation import OBSERVATION_SCHEMA
from followerledger.run_log import DATASET as RUN_LOG_NAME
from followerledger.run_log import RUN_LOG_SCHEMA
from followerledger.shards import ShardSpec

__all__ = [
    "CHECKPOINT_INTERVAL",
    "DATASETS",
    "DATE_COLUMN",
    "MAX_COMMIT_RETRIES",
    "OBSERVATIONS",
    "OLD_RUN_FILES",
    "PARTITION_COLUMNS",
    "REOPEN_AFTER_VERSIONS",
    "RUN_LOG",
    "S3_OPTIONS",
    "TARGET_FILE_SIZE",
    "DeltaDataset",
    "DeltaFile",
    "DeltaLake",
    "DeltaLakeError",
    "DeltaSnapshot",
    "MigrationNeeded",
    "check_lake",
    "commit_properties",
    "delta_lake_of",
    "partition_day",
    "run_predicate",
    "whole_run_predicate",
    "with_date",
]

#: The partition date column every table adds to its dataset's row schema.
DATE_COLUMN: Final = "date"
PARTITION_COLUMNS: Final = ("platform", DATE_COLUMN)
#: Data files roll over at this size, so a writer holds at most this much per open partition
#: however many rows a stream carries (delta-rs' default is 100 MB).
TARGET_FILE_SIZE: Final = 32 << 20
#: Commit attempts before a writer gives up: appends and other platforms' replacements never
#: conflict logically, so a retry only takes the next version number (8 concurrent writers on
#: S3 needed up to ~20 in the spike; 100 leaves room).
MAX_COMMIT_RETRIES: Final = 100


#: A kept table is opened afresh once it has caught up on this many versions
#: (`DeltaLake.lend`; docs/design/issue14-status.md).
REOPEN_AFTER_VERSIONS: Final = 10
#: Commits between checkpoints. A write replays the log since the last checkpoint (~0.3 ms a
#: version here), so delta-rs' default of 100 lets a landing grow from ~11 ms to ~30; every
#: 10, with tables reopened as often, it stays at ~12 (docs/design/issue14-status.md).
CHECKPOINT_INTERVAL: Final = 10


_STATS_PROPERTY: Final = "delta.dataSkippingStatsColumns"
#: Tries of an old table's upgrade against concurrent upgraders (`DeltaLake._upgraded`).
_UPGRADE_ATTEMPTS: Final = 5


class DeltaLakeError(LakeError):
    """A Delta lake operation failed; no version names anything partial. A `LakeError`, so
    the callers of today's lake (the snapshot tasks) handle both alike."""


class MigrationNeeded(DeltaLakeError, ConfigError):
    """A dataset folder still holds the old layout's run files, with no Delta table. Also a
    `ConfigError`: every command says so in one line (exit 2) and points to `migrate`."""


#: The old layout's run files in a dataset folder (`lake.Lake`): what `migrate` converts.
OLD_RUN_FILES: Final = "platform=*/date=*/*.parquet"


@dataclasses.dataclass(frozen=True, slots=True)
class DeltaDataset:
    """One lake dataset as a Delta table: its name (the table's folder), row schema, and the
    columns each data file keeps statistics of in the log."""

    name: str
    row_schema: pa.Schema
    #: Min/max/null counts in each add action: `run_id` (a re-run's predicate skips every
    #: other file by it), the time column (outside readers' range filters) and `shard` (a
    #: shard's commit must rule the run's other shards' new files out, or concurrent shards
    #: fail each other's commits: docs/design/issue15-shards.md). Statistics of every
    #: column cost ~1 ms of a 2,000-row landing's ~13 (docs/design/issue14-status.md).
    stats_columns: tuple[str, ...]

    @property
    def configuration(self) -> dict[str, str | None]:
        """The table's Delta properties, set when it is created (`DeltaLake.table`, migrate)."""
        return {
            "delta.targetFileSize": str(TARGET_FILE_SIZE),
            _STATS_PROPERTY: ",".join(self.stats_columns),
            "delta.checkpointInterval": str(CHECKPOINT_INTERVAL),
        }

    @property
    def table_schema(self) -> pa.Schema:
        """The row schema plus the `date` partition column (not null)."""
        return self.row_schema.append(pa.field(DATE_COLUMN, pa.date32(), nullable=False))


OBSERVATIONS: Final = DeltaDataset(
    "observations", OBSERVATION_SCHEMA, ("run_id", "observed_at", "shard")
)
RUN_LOG: Final = DeltaDataset(RUN_LOG_NAME, RUN_LOG_SCHEMA, ("run_id", "started_at", "shard"))
DATASETS: Final = (OBSERVATIONS, RUN_LOG)


@dataclasses.dataclass(frozen=True, slots=True)
class DeltaFile:
    """One data file a table version names, with its partition values from the log."""

    path: str
    size: int
    rows: int
    platform: str
    day: date
    #: The path relative to the lake root (`<dataset>/platform=<p>/date=<d>/part-….parquet`):
    #: what the build manifest records, so a lake read through another URI matches.
    key: str


@dataclasses.dataclass(frozen=True, slots=True)
class DeltaSnapshot:
    """A dataset's table as of one version: exactly the files that version names."""

    dataset: DeltaDataset
    #: None: the table has not been created yet.
    version: int | None
    files: tuple[DeltaFile, ...]

    @property
    def partition_columns(self) -> tuple[str, ...]:
        """The table's partition columns, which readers take from the files' paths."""
        return PARTITION_COLUMNS

    @property
    def rows(self) -> int:
        """Rows in the version, from the log's per-file counts."""
        return sum(file.rows for file in self.files)


_DAY_FOLDER: Final = re.compile(rf"/{DATE_COLUMN}=(\d{{4}}-\d{{2}}-\d{{2}})/")


def partition_day(key: str) -> date:
    """The `date` partition of a data file's key (`DeltaFile.key`), read from its path."""
    match = _DAY_FOLDER.search(key)
    if match is None:
        raise DeltaLakeError(f"{key}: not under a {DATE_COLUMN}= partition folder")
    return date.fromisoformat(match.group(1))


def run_predicate(platform: str, run_id: str, shard: ShardSpec | None = None) -> str:
    """The rows one run (or one shard of it) landed for one platform, on any date: what a
    re-run replaces.

    Naming the platform matters (without it a re-landing of one platform deletes the run's
    rows on every other platform). No date: a run id given again on a later UTC day lands
    under its new start day, and the rows it landed under the first must go with it (the
    `run_id` statistics skip every other file either way). Values are quoted; callers pass
    checked run ids (`lake.check_run_id`) and registry platform names.

    `shard` is one shard of a sharded run: its rows are those of
    its shard, so shards of one run land side by side (the `shard` statistics let each
    commit's conflict check rule the others' new files out). Shard 0 also replaces the
    run's rows of no shard or of a shard beyond `count`, so a run id landed again with
    fewer shards (or first landed unsharded) keeps no stale rows; no two shards' predicates
    overlap. None: every row of the run's platform, whatever its shard.
    """
    where = f"run_id = {_quoted(run_id)} AND platform = {_quoted(platform)}"
    if shard is None:
        return where
    index, count = int(shard.index), int(shard.count)
    if index == 0:
        return f"{where} AND (shard = 0 OR shard IS NULL OR shard >= {count})"
    return f"{where} AND shard = {index}"


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def whole_run_predicate(run_id: str) -> str:
    """Every row of one run, on every platform and date: what a re-import replaces (an import's
    run id is its content's, so no other writer lands rows under it)."""
    return f"run_id = {_quoted(run_id)}"


def _store_advice(error: OSError) -> str:
    """What a failed read of the store says, as the setting to check (never its text)."""
    text = str(error)
    if any(sign in text for sign in ("403", "AccessDenied", "InvalidAccessKeyId", "Signature")):
        return f"the store refused the key; check {KEY_SETTINGS}"
    if "NoSuchBucket" in text:
        return f"no such bucket; check the bucket in {LAKE_ENV}"
    if any(sign in text for sign in ("connect", "dns", "timed out", "HTTP error")):
        return f"the store cannot be reached; check {ENDPOINT_ENV}"
    return f"the store failed ({type(error).__name__}); check {ENDPOINT_ENV} and {KEY_SETTINGS}"


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def with_date(table: pa.Table, dataset: DeltaDataset, day: date) -> pa.Table:
    """Rows of the dataset's row schema, as the table schema with `date` set to `day`."""
    rows = table.select(dataset.row_schema.names).cast(dataset.row_schema)
    column = pa.array([day] * rows.num_rows, pa.date32())
    return pa.Table.from_arrays([*rows.columns, column], schema=dataset.table_schema)


def commit_properties() -> CommitProperties:
    """How every commit of ours is made: retried past concurrent writers' versions."""
    return CommitProperties(max_commit_retries=MAX_COMMIT_RETRIES)


class DeltaLake:
    """The lake's Delta tables under one root: a local folder or an object-store URI.

    `storage_options` are handed to delta-rs as they are (`S3_OPTIONS` for an S3 lake);
    never shown in errors. Tables are opened on the calling thread: delta-rs may not
    be called from inside a stream it is consuming.
    """

    def __init__(
        self,
        uri: str | Path,
        storage_options: Mapping[str, str] | None = None,
        migration_journal: Path | None = None,
    ) -> None:
        text = str(uri)
        self.root = text.rstrip("/") if "://" in text else str(Path(text).absolute())
        self.storage_options = dict(storage_options) if storage_options else None
        #: While this file exists a `migrate` is unfinished: no table is opened (`MigrationNeeded`).
        self.migration_journal = migration_journal
        #: Per dataset: idle tables, each with the version it was opened at.
        self._idle: dict[str, list[tuple[DeltaTable, int]]] = {}
        self._opened: dict[int, int] = {}  # lent tables: the version each was opened at
        self._idle_lock = threading.Lock()

    def table_uri(self, dataset: DeltaDataset) -> str:
        """Where the dataset's table lives: `<lake>/<dataset>`."""
        return f"{self.root}/{dataset.name}"

    def table(self, dataset: DeltaDataset) -> DeltaTable:
        """The dataset's table at its latest version, created empty (version 0) if absent.

        Never over the old layout's run files (`MigrationNeeded`): a table created there
        would name none of them, so readers would see no row and a full vacuum would delete
        them all as unreferenced.
        """
        uri = self.table_uri(dataset)
        try:
            return self._upgraded(dataset, self._open(dataset))
        except TableNotFoundError:
            pass
        self._refuse_run_files(dataset)
        try:
            return DeltaTable.create(
                uri,
                dataset.table_schema,
                mode="ignore",
                partition_by=list(PARTITION_COLUMNS),
                configuration=dataset.configuration,
                storage_options=self.storage_options,
                # Never retried: a creator that loses the race for version 0 must not commit
                # the table's metadata again as version 1; it opens the winner's table.
                commit_properties=CommitProperties(max_commit_retries=0),
            )
        except DeltaError:
            # Another writer created it first (both raced for version 0): open theirs.
            return self._upgraded(dataset, self._open(dataset))

    def upgrade(self) -> None:
        """Bring every existing table up to its dataset's columns and properties now
        (`_upgraded`), before concurrent writers (a run's shards) would race to; creates
        no table."""
        for dataset in DATASETS:
            try:
                self._upgraded(dataset, self._open(dataset))
            except TableNotFoundError:
                continue

    def _upgraded(self, dataset: DeltaDataset, table: DeltaTable) -> DeltaTable:
        """The table, with the dataset's columns and statistics columns added first when it
        predates them (a lake of issue 14 has no `shard` or `credential`).

        A missing column is added nullable (`alter.add_columns`; older files read as
        nulls), the statistics columns set by `alter.set_table_properties`. A table opened
        before another writer's upgrade (another thread's, another process's) is opened again;
        a writer that loses the race to upgrade looks again at the table the winner made.
        """
        wanted = dataset.configuration[_STATS_PROPERTY]
        for _ in range(_UPGRADE_ATTEMPTS):
            present = {field.name for field in table.schema().fields}
            missing = [field for field in dataset.table_schema if field.name not in present]
            stats = table.metadata().configuration.get(_STATS_PROPERTY)
            if not missing and stats == wanted:
                return table
            try:
                if missing:
                    table.alter.add_columns(
                        [Field.from_arrow(field) for field in missing],
                        commit_properties=commit_properties(),
                    )
                if stats != wanted:
                    table.alter.set_table_properties(
                        {_STATS_PROPERTY: str(wanted)},
                        raise_if_not_exists=False,
                        commit_properties=commit_properties(),
                    )
            except DeltaError:
                pass
            table = self._open(dataset)
        return table

    def _open(self, dataset: DeltaDataset) -> DeltaTable:
        """The dataset's table (TableNotFoundError when absent); a store that cannot be read
        is DeltaLakeError naming the lake and the setting to check, since delta-rs' OSError
        quotes the request URL and spans lines."""
        if self.migration_journal is not None and self.migration_journal.exists():
            # Files that landed during the migration wait in its backup for the table's next
            # version: a landing now would take it, and they would never be appended.
            raise MigrationNeeded(
                f"a migration of {self.root} is unfinished ({self.migration_journal}); "
                "run `followerledger migrate` to finish it"
            )
        try:
            return DeltaTable(self.table_uri(dataset), storage_options=self.storage_options)
        except TableNotFoundError:
            raise
        except OSError as error:
            raise DeltaLakeError(
                f"{dataset.name}: cannot read the lake {self.root}: {_store_advice(error)}"
            ) from error

    @contextlib.contextmanager
    def writing(self, dataset: DeltaDataset) -> Iterator[DeltaTable]:
        """The dataset's table at its latest version, for one write (`lend`, then
        `give_back` unless the write raised)."""
        table = self.lend(dataset)
        try:
            yield table
        except BaseException:
            self.drop(table)
            raise
        self.give_back(dataset, table)

    def lend(self, dataset: DeltaDataset) -> DeltaTable:
        """The dataset's table at its latest version, for one write at a time.

        Opening a table reads its log (~5 ms locally); an open one catches up with
        `update_incremental()` (~1 ms). But an open table's writes get dearer with every
        version it has caught up on (~0.15 ms each: 44 ms per landing at 300 versions,
        against 12 ms for a table opened then), so one is reopened after
        `REOPEN_AFTER_VERSIONS`. Tables are kept between writes, each lent to one write
        only: a write's conflict check runs against the version its table was at, and another
        thread's `update_incremental()` must never move that under it. Hand it back
        with `give_back` after a successful write, or `drop` it if the write failed.
        """
        with self._idle_lock:
            idle = self._idle.get(dataset.name)
            lent = idle.pop() if idle else None
        if lent is not None:
            table, opened = lent
            try:
                table.update_incremental()
            except OSError as error:
                raise DeltaLakeError(
                    f"{dataset.name}: cannot read the lake {self.root}: {_store_advice(error)}"
                ) from error
            if table.version() - opened < REOPEN_AFTER_VERSIONS:
                with self._idle_lock:
                    self._opened[id(table)] = opened
                return table
        table = self.table(dataset)
        with self._idle_lock:
            self._opened[id(table)] = table.version()
        return table

    def drop(self, table: DeltaTable) -> None:
        """Forget a lent table whose write failed: it is never lent again."""
        with self._idle_lock:
            self._opened.pop(id(table), None)

    def give_back(self, dataset: DeltaDataset, table: DeltaTable) -> None:
        """Keep a lent table for the dataset's next write."""
        with self._idle_lock:
            opened = self._opened.pop(id(table), table.version())
            self._idle.setdefault(dataset.name, []).append((table, opened))

    def read_run(
        self, dataset: DeltaDataset, run_id: str, day: date, columns: list[str], **equal: str
    ) -> pa.Table:
        """The `columns` of the rows one run landed under its start `day` (the `date`
        partition, so only that day's files are read), and whose other columns equal
        `equal`'s values; an empty table before the table exists."""
        try:
            table = self._open(dataset)
        except TableNotFoundError:
            return dataset.table_schema.empty_table().select(columns)
        wanted = (pc.field(DATE_COLUMN) == day) & (pc.field("run_id") == run_id)
        for name, value in equal.items():
            wanted &= pc.field(name) == value
        try:
            return table.to_pyarrow_dataset().to_table(columns=columns, filter=wanted)
        except OSError as error:
            raise DeltaLakeError(
                f"{dataset.name}: cannot read the lake {self.root}: {_store_advice(error)}"
            ) from error

    def snapshot(
        self,
        dataset: DeltaDataset,
        version: int | None = None,
        *,
        as_of: datetime | None = None,
    ) -> DeltaSnapshot:
        """The files of the latest version (or of `version`, or of the version in effect at
        the time `as_of`), with their partition values.

        `as_of` (time-zone aware) resolves as delta-rs and every reader built on it
        (`pl.scan_delta`) resolve a time: to the last version whose commit is not later, a
        commit being dated by its log file's modification time (the Delta protocol's rule
        without in-commit timestamps). delta-rs gives the first kept version for a time
        before it; here that time has no version and no file, as before the first commit.

        The partition values come from the log; each file's path must carry the same values
        in its Hive-style folders, since DuckDB reads them from the path (DeltaLakeError
        otherwise: the Delta protocol does not promise Hive paths). A reader never creates
        a table: before the first commit the snapshot has no version and no file.
        """
        if version is not None and as_of is not None:
            raise ValueError("snapshot takes a version or a time (as_of), not both")
        if as_of is not None and as_of.utcoffset() is None:
            raise ValueError("as_of must carry a time zone (the lake's times are UTC)")
        if version is not None and version < 0:
            raise DeltaLakeError(f"{dataset.name}: no version {version}: versions count from 0")
        try:
            table = self._open(dataset)
        except TableNotFoundError:
            # An unmigrated folder is not an empty dataset: never read it as one.
            self._refuse_run_files(dataset)
            if version is not None:
                raise DeltaLakeError(f"{dataset.name}: no table, so no version {version}") from None
            return DeltaSnapshot(dataset, None, ())
        if version is not None and version > table.version():
            raise DeltaLakeError(
                f"{dataset.name}: no version {version}: the latest is {table.version()}"
            )
        try:
            if version is not None:
                table.load_as_version(version)
            if as_of is not None:
                table.load_as_version(as_of)
        except DeltaError as error:
            # Kept versions end where expired log files were removed after a checkpoint.
            wanted = version if version is not None else f"as of {as_of}"
            raise DeltaLakeError(
                f"{dataset.name}: cannot read version {wanted}: {_first_line(error)}"
            ) from None
        if as_of is not None and self.commit_time(dataset, table.version()) > as_of:
            return DeltaSnapshot(dataset, None, ())
        actions = pa.table(table.get_add_actions(flatten=True))
        root = table.table_uri.removeprefix("file://").rstrip("/")
        if "://" not in self.root:
            root = unquote(root)
        files = []
        for row in actions.select(
            ["path", "size_bytes", "num_records", "partition.platform", "partition.date"]
        ).to_pylist():
            relative = unquote(str(row["path"]))
            platform, day = str(row["partition.platform"]), row["partition.date"]
            expected = f"platform={platform}/{DATE_COLUMN}={day.isoformat()}/"
            if not relative.startswith(expected):
                raise DeltaLakeError(
                    f"{dataset.name}: data file {relative!r} is not under {expected!r}; "
                    "its partition values cannot be read from its path"
                )
            files.append(
                DeltaFile(
                    path=f"{root}/{relative}",
                    size=int(row["size_bytes"]),
                    rows=int(row["num_records"]),
                    platform=platform,
                    day=day,
                    key=f"{dataset.name}/{relative}",
                )
            )
        files.sort(key=lambda file: file.path)
        return DeltaSnapshot(dataset, table.version(), tuple(files))

    def commit_time(self, dataset: DeltaDataset, version: int) -> datetime:
        """When a version was committed, as delta-rs dates it for time travel: its log
        file's modification time, to the millisecond (UTC). DeltaLakeError when the log no
        longer holds that version's commit file (expired after a checkpoint)."""
        commit = f"{self.table_uri(dataset)}/_delta_log/{version:020d}.json"
        nanoseconds: int | None
        if "://" in self.root:
            filesystem, path = pafs.FileSystem.from_uri(commit)
            info = filesystem.get_file_info(path)
            nanoseconds = info.mtime_ns if info.type == pafs.FileType.File else None
        else:
            try:
                nanoseconds = os.stat(commit).st_mtime_ns
            except FileNotFoundError:
                nanoseconds = None
        if nanoseconds is None:
            raise DeltaLakeError(
                f"{dataset.name}: the log no longer holds version {version}'s commit"
            )
        seconds, milliseconds = divmod(nanoseconds // 1_000_000, 1000)
        return datetime.fromtimestamp(seconds, UTC) + timedelta(milliseconds=milliseconds)

    def _refuse_run_files(self, dataset: DeltaDataset) -> None:
        """MigrationNeeded if the dataset's folder (with no table) holds old-layout run files.

        Checked on a local lake only: an object-store lake is never migrated in place
        (`followerledger migrate` refuses one), so its new tables live under a new prefix.
        """
        if "://" in self.root:
            return
        folder = Path(self.table_uri(dataset))
        if next(folder.glob(OLD_RUN_FILES), None) is not None:
            raise MigrationNeeded(
                f"{folder} holds run files of the old lake layout and no Delta table; "
                "run `followerledger migrate` first"
            )

    def vacuum(
        self, dataset: DeltaDataset, retention_hours: int, orphan_hours: int | None = None
    ) -> list[str]:
        """Delete the files the log stopped naming more than `retention_hours` ago, then the
        files no version ever named (orphans: a killed writer's) older than `orphan_hours`
        (default: the same); returns their paths relative to the table.

        Orphans get their own age because a running writer's files are not in the log yet:
        `orphan_hours` must outlast the longest run, whatever retention readers want.
        delta-rs measures both against the real clock. It also lists a removed file again at
        every vacuum while its tombstone stays in the log (a week), already deleted or not,
        and commits two versions for it; so each pass dry-runs first, and only files still
        present are vacuumed and returned (none: no commit).
        """
        table = self.table(dataset)
        removed = self._vacuum(dataset, table, retention_hours, full=False)
        orphans = retention_hours if orphan_hours is None else max(orphan_hours, retention_hours)
        return sorted(removed | self._vacuum(dataset, table, orphans, full=True))

    def _vacuum(
        self, dataset: DeltaDataset, table: DeltaTable, hours: int, *, full: bool
    ) -> set[str]:
        planned = table.vacuum(
            retention_hours=hours, dry_run=True, enforce_retention_duration=False, full=full
        )
        present = self._present(dataset, planned)
        if not present:
            return set()
        removed = table.vacuum(
            retention_hours=hours,
            dry_run=False,
            enforce_retention_duration=False,
            full=full,
            commit_properties=commit_properties(),
        )
        return present & {self._relative(dataset, path) for path in removed}

    def _relative(self, dataset: DeltaDataset, path: str) -> str:
        """A path vacuum gave (relative, or absolute on a second listing) relative to the table."""
        root = self.table_uri(dataset) + "/"
        text = unquote(path.removeprefix("file://"))
        return text[len(root) :] if text.startswith(root) else text

    def _present(self, dataset: DeltaDataset, paths: list[str]) -> set[str]:
        """Those of the table's paths that are on the store now."""
        if not paths:
            return set()
        relative = sorted({self._relative(dataset, path) for path in paths})
        filesystem, base = pafs.FileSystem.from_uri(self.table_uri(dataset))
        infos = filesystem.get_file_info([f"{base}/{path}" for path in relative])
        return {
            path
            for path, info in zip(relative, infos, strict=True)
            if info.type != pafs.FileType.NotFound
        }


#: What an S3 lake is opened with besides the standard AWS variables, which delta-rs reads
#: itself (no key is ever held here): commits as put-if-absent on the log's next version,
#: said explicitly so that a change of delta-rs' default cannot turn it off.
S3_OPTIONS: Final = {"aws_conditional_put": "etag"}


def check_lake(layout: WarehouseLayout) -> None:
    """Raise `MigrationNeeded` (one line, naming `followerledger migrate`) when the layout's
    lake still holds the old layout's run files, or its migration is unfinished: what every
    command meets first after an upgrade (a listing of the tables' folders). An object-store
    lake is read once instead: `DeltaLakeError` naming the setting when it cannot be."""
    lake = delta_lake_of(layout)
    if not layout.lake_is_local:
        # A store that cannot be reached: one line now (DeltaLakeError), not a failed run.
        lake.snapshot(OBSERVATIONS)
        return
    if layout.migration_journal.exists():
        lake.snapshot(OBSERVATIONS)  # refuses: the migration is unfinished
    for dataset in DATASETS:
        if not Path(lake.table_uri(dataset), "_delta_log").is_dir():
            lake._refuse_run_files(dataset)


def delta_lake_of(layout: WarehouseLayout) -> DeltaLake:
    """The warehouse's Delta lake (its URI from the layout); an `s3://` lake with
    `S3_OPTIONS`, its endpoint, region and credentials from the AWS_* environment."""
    if layout.lake_uri.startswith("s3://"):
        return DeltaLake(layout.lake_uri, S3_OPTIONS)
    return DeltaLake(layout.lake_uri, migration_journal=layout.migration_journal)
