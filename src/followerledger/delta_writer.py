"""One run's rows streamed into a Delta table as one commit (`DeltaRunWriter`).

`write_deltalake` runs on a writer thread of its own, fed by a generator that takes row
groups from a bounded queue: the caller's `write` puts a table, `commit` ends the stream and
waits for the version, `abort` makes the generator raise, so the write fails and no version
is made. Data files roll over at `delta_lake.TARGET_FILE_SIZE`, so memory stays flat however
long the stream is. The write is `mode="overwrite"` with the run's predicate
(`delta_lake.run_predicate`): a first landing is a pure add, a re-run replaces exactly its own
rows, in one version either way.

The generator runs on a delta-rs (tokio) worker thread: it only takes from the queue and
never calls `deltalake` (doing so panics, "Cannot start a runtime from within a runtime").
The table is opened on the caller's thread before the writer thread starts.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from datetime import date
from typing import Final

import pyarrow as pa
from deltalake import write_deltalake
from deltalake.exceptions import DeltaError

from followerledger import pause
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
    "QUEUED_GROUPS",
    "DeltaRunWriter",
    "WriteGivenUp",
    "replace_run",
]

#: Row groups waiting for the writer thread: `write` blocks beyond this (backpressure).
QUEUED_GROUPS: Final = 4
#: How often a blocked `write` checks that the writer thread is still alive.
_POLL_SECONDS: Final = 0.1


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


class WriteGivenUp(Exception):
    """Raised inside the stream by `abort`: the write fails and commits nothing."""


class _End:
    """The end of the stream."""


_END: Final = _End()


class DeltaRunWriter:
    """One platform's rows of one run, streamed into the dataset's table as one version.

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
        self._queue: queue.Queue[pa.RecordBatch | _End | WriteGivenUp] = queue.Queue(
            maxsize=QUEUED_GROUPS
        )
        self._error: BaseException | None = None
        self._version: int | None = None
        self._ended = False
        # Lent on this thread (never inside the stream), given back after a good commit.
        self._lake, self._table = lake, lake.lend(dataset)
        table = self._table
        reader = pa.RecordBatchReader.from_batches(dataset.table_schema, self._batches())

        def run() -> None:
            try:
                write_deltalake(
                    table,
                    reader,
                    mode="overwrite",
                    predicate=self.predicate,
                    target_file_size=target_file_size,
                    commit_properties=commit_properties(),
                )
                self._version = table.version()
            except BaseException as error:  # re-raised by commit
                self._error = error

        self._thread = threading.Thread(
            target=run, name=f"delta-{dataset.name}-{platform}", daemon=True
        )
        self._thread.start()

    def _batches(self) -> Iterator[pa.RecordBatch]:
        # Runs on a delta-rs worker thread: only the queue, never deltalake.
        while True:
            item = self._queue.get()
            if isinstance(item, _End):
                # delta-rs holds every row now; its data files and then its commit follow.
                pause.point("delta-commit")
                return
            if isinstance(item, WriteGivenUp):
                raise item
            yield item
            pause.point("delta-write")

    def write(self, rows: pa.Table) -> None:
        """Stream a table of the dataset's row schema (its `date` is added here)."""
        if self._ended:
            raise DeltaLakeError(f"{self._name}: this run's write has already ended")
        for batch in with_date(rows, self.dataset, self.day).to_batches():
            self._put(batch)

    def commit(self) -> int:
        """End the stream and wait for its commit; returns the version it made."""
        self._end(_END)
        if self._error is not None or self._version is None:
            self._lake.drop(self._table)
        if self._error is not None:
            raise DeltaLakeError(
                f"{self._name}: the commit failed ({type(self._error).__name__}); no version "
                "names its rows"
            ) from self._error
        if self._version is None:
            raise DeltaLakeError(f"{self._name}: the writer ended without a version")
        self._lake.give_back(self.dataset, self._table)
        return self._version

    def abort(self) -> None:
        """Give up: the stream raises, the write fails, no version is made. Files already
        written stay unreferenced until `DeltaLake.vacuum` removes them."""
        if not self._ended:
            self._end(WriteGivenUp(f"{self._name}: given up"))
            self._lake.drop(self._table)

    @property
    def _name(self) -> str:
        return f"{self.dataset.name} {self.platform} run {self.run_id}"

    def _end(self, item: _End | WriteGivenUp) -> None:
        if self._ended:
            raise DeltaLakeError(f"{self._name}: this run's write has already ended")
        self._ended = True
        # A writer thread already gone has kept its error (if any) for `commit`.
        with contextlib.suppress(DeltaLakeError):
            self._put(item)
        self._thread.join()

    def _put(self, item: pa.RecordBatch | _End | WriteGivenUp) -> None:
        # A writer thread that failed stops taking: never wait on its full queue forever.
        while True:
            try:
                self._queue.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    raise DeltaLakeError(
                        f"{self._name}: the writer stopped"
                        + (f" ({type(self._error).__name__})" if self._error else "")
                    ) from self._error
