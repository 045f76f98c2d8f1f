"""One run's rows landed in a Delta table as one commit (`DeltaRunWriter`).

A long landing's rows are staged as they come in an anonymous temporary file, and `commit`
hands them to one `write_deltalake` as a stream read back from it; `abort` drops them, so no
version is made. Data files roll over at `delta_lake.TARGET_FILE_SIZE`, so memory stays flat
however many rows a run lands. The write is `mode="overwrite"` with the run's predicate
(`delta_lake.run_predicate`): a first landing is a pure add, a re-run replaces exactly its own
rows, in one version either way.

The stream's generator runs on a delta-rs (tokio) worker thread: it only reads the staged
file, never calls `deltalake` (doing so panics, "Cannot start a runtime from within a
runtime") and never waits for rows still to come (a worker thread held so blocks every other
write and table of the process). The table is opened on the caller's thread.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import write_deltalake
from deltalake.exceptions import DeltaError

from followerledger import pause, stopping
from followerledger.delta_lake import (
    TARGET_FILE_SIZE,
    DeltaDataset,
    DeltaLake,
    DeltaLakeError,
    commit_properties,
    run_predicate,
    with_date,
)
from followerledger.shards import ShardSpec

__all__ = [
    "DeltaRunWriter",
    "replace_run",
]


def replace_run(
    lake: DeltaLake,
    dataset: DeltaDataset,
    platform: str,
    run_id: str,
    day: date,
    rows: pa.Table,
    shard: ShardSpec | None = None,
) -> int:
    """Land rows already in memory (a run record, a small run) as one version replacing the
    run's earlier rows of that platform (of that shard, when given: `run_predicate`; on any
    date); returns the version."""
    with lake.writing(dataset) as table:
        pause.point("delta-commit")
        try:
            write_deltalake(
                table,
                with_date(rows, dataset, day),
                mode="overwrite",
                predicate=run_predicate(platform, run_id, shard),
                commit_properties=commit_properties(),
            )
        except DeltaError as error:
            raise DeltaLakeError(
                f"{dataset.name} {platform} run {run_id}: the commit failed "
                f"({type(error).__name__}); no version names its rows"
            ) from error
        return table.version()


class DeltaRunWriter:
    """One platform's rows of one run, landed in the dataset's table as one version.

    Rows are staged, as they come, in an anonymous temporary file (Parquet, one row group per
    `write`, in `tempfile`'s folder: `TMPDIR`), which the system removes however the process
    ends; `commit` streams them from there into one `write_deltalake`. A write fed while
    its rows were still coming held one of delta-rs's worker threads (as many as cores) for
    as long as the run: a snapshot of a million accounts, with 32 landings that long, stalled.
    Not thread-safe by itself: one caller (the landing, under its lock) writes and ends it.
    """

    def __init__(
        self,
        lake: DeltaLake,
        dataset: DeltaDataset,
        platform: str,
        run_id: str,
        day: date,
        target_file_size: int = TARGET_FILE_SIZE,
        shard: ShardSpec | None = None,
    ) -> None:
        self.dataset, self.platform, self.run_id, self.day = dataset, platform, run_id, day
        self.predicate = run_predicate(platform, run_id, shard)
        self.target_file_size = target_file_size
        self._ended = False
        with self._staging():
            # Closed by commit or abort: it lives as long as the writer.
            self._staged = tempfile.TemporaryFile(prefix="followerledger-landing-")  # noqa: SIM115
        self._writer: pq.ParquetWriter | None = None
        try:
            with self._staging():
                # Read back once, at once: no statistics, light compression.
                self._writer = pq.ParquetWriter(
                    self._staged,
                    dataset.table_schema,
                    compression="lz4",
                    write_statistics=False,
                )
            # Lent on this thread (never inside the stream), given back after a good commit.
            self._lake, self._table = lake, lake.lend(dataset)
        except BaseException:
            self._ended = True
            self._drop_staged()
            raise

    def write(self, rows: pa.Table) -> None:
        """Stage a table of the dataset's row schema (its `date` is added here)."""
        if self._ended or self._writer is None:
            raise DeltaLakeError(f"{self._name}: this run's write has already ended")
        with self._staging():
            self._writer.write_table(with_date(rows, self.dataset, self.day))

    def commit(self) -> int:
        """Land every staged row in one version; returns the version it made. A stop signal
        (`stopping.STOP`) before delta-rs has every row fails the write: no version, and
        `stopping.Stopped` is raised."""
        self._check_open()
        self._ended = True
        try:
            if self._writer is not None:
                with self._staging():
                    self._writer.close()
                self._writer = None
            self._staged.seek(0)
            staged = pq.ParquetFile(self._staged)
            reader = pa.RecordBatchReader.from_batches(self.dataset.table_schema, _batches(staged))
            write_deltalake(
                self._table,
                reader,
                mode="overwrite",
                predicate=self.predicate,
                target_file_size=self.target_file_size,
                commit_properties=commit_properties(),
            )
        except BaseException as error:
            self._drop_staged()
            self._lake.drop(self._table)
            if stopping.STOP.is_set() and not isinstance(error, stopping.Stopped):
                raise stopping.Stopped() from error
            if isinstance(error, DeltaLakeError):
                raise
            if isinstance(error, Exception):
                raise DeltaLakeError(
                    f"{self._name}: the commit failed ({type(error).__name__}); no version "
                    "names its rows"
                ) from error
            raise
        self._drop_staged()
        version = self._table.version()
        self._lake.give_back(self.dataset, self._table)
        return version

    def abort(self) -> None:
        """Give up: nothing is written, no version is made, the staged rows are dropped."""
        if self._ended:
            return
        self._ended = True
        self._drop_staged()
        self._lake.drop(self._table)

    @property
    def _name(self) -> str:
        return f"{self.dataset.name} {self.platform} run {self.run_id}"

    def _check_open(self) -> None:
        if self._ended:
            raise DeltaLakeError(f"{self._name}: this run's write has already ended")

    @contextlib.contextmanager
    def _staging(self) -> Iterator[None]:
        """The one-line error of a staging file that cannot be made or written."""
        try:
            yield
        except OSError as error:
            raise DeltaLakeError(
                f"{self._name}: staging its rows failed ({error.strerror or error}); "
                "see TMPDIR's free space"
            ) from error

    def _drop_staged(self) -> None:
        """Close the staging writer and file (its rows go with it), whatever state they are
        in: a writer that failed mid-write may fail again to close."""
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(OSError):
                writer.close()
            # pyarrow leaves a writer whose close failed open, and its finalizer would close
            # (and fail) again, unraisably: the rows are given up, so is the writer.
            writer.is_open = False
        staged = getattr(self, "_staged", None)
        if staged is not None:
            with contextlib.suppress(OSError):
                staged.close()


def _batches(staged: pq.ParquetFile) -> Iterator[pa.RecordBatch]:
    # Runs on a delta-rs worker thread: it only reads the staged file, never calls deltalake,
    # and never waits for anything but the local disk.
    for group in range(staged.num_row_groups):
        stopping.check()  # a stop fails the write before its commit
        yield from staged.read_row_group(group).to_batches()
        pause.point("delta-write")
    stopping.check()
    # delta-rs holds every row now; its last data files and then its commit follow.
    pause.point("delta-commit")
