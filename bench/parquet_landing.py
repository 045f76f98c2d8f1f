"""The landing before issue 14, kept only as the landing benchmark's baseline: a snapshot run's
rows written into a lake of Parquet run files as their batches arrive, one file per platform,
visible once renamed into place (`lake.LakeWriter`). The product lands Delta commits
(`followerledger.landing`).
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Final

import pyarrow as pa

from followerledger import run_log, stopping
from followerledger.lake import (
    Lake,
    LakeError,
    LakeFile,
    LakeWriter,
    check_run_id,
    observation_key,
)
from followerledger.observation import (
    OBSERVATION_SCHEMA,
    PARQUET_OPTIONS,
    Observation,
    salvaged,
    to_table,
)

__all__ = [
    "ERROR_DETAILS",
    "ROW_GROUP_ROWS",
    "Landing",
    "landings",
    "write_observations",
]

#: Rows kept in memory before they are written out as one Parquet row group: a run's memory
#: stays flat however many accounts it watches, and a usual run is one row group.
ROW_GROUP_ROWS: Final = 20_000
#: Distinct `error` details a landing counts (the rest of a run's errors are counted by
#: status only): enough to name the cause of a platform's failure, never a row per account.
ERROR_DETAILS: Final = 20


class Landing:
    """One platform's rows of a run, landed as their batches arrive, as one Parquet file.

    Batches are added from any thread; rows are buffered up to `row_group_rows` and written
    out as a row group of the run's file, which stays invisible until `commit()` (under a
    temporary name). Only counts stay in memory: rows per status, where they came from, and
    how often the first `ERROR_DETAILS` distinct error details occurred.
    Each batch is converted to Arrow as it is added; a row Arrow cannot convert is landed as
    an `error` row naming the field (`salvaged`), so one bad value never loses the file.
    The file's partition date is the run's UTC start date; committing a run id again replaces
    only its own file.
    """

    def __init__(
        self,
        lake: Lake,
        platform: str,
        run_id: str,
        started_at: datetime,
        row_group_rows: int = ROW_GROUP_ROWS,
    ) -> None:
        self.lake = lake
        self.platform, self.run_id, self.started_at = platform, run_id, started_at
        self.key = observation_key(platform, started_at.date(), check_run_id(run_id))
        self.row_group_rows = row_group_rows
        self.statuses: Counter[str] = Counter()
        self.sources: set[str] = set()
        self.errors: Counter[str] = Counter()
        self._buffer: list[pa.Table] = []
        self._buffered_rows = 0
        self._writer: LakeWriter | None = None
        self._failure: BaseException | None = None
        self._closed = False
        self._lock = threading.Lock()

    def add(self, observations: Sequence[Observation]) -> dict[str, int]:
        """Take a batch's rows; returns the batch's count of rows per status."""
        try:
            table = to_table(observations)
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            observations = salvaged(observations)
            table = to_table(observations)
        batch: Counter[str] = Counter(row.status for row in observations)
        with self._lock:
            self._check()
            self._buffer.append(table)
            self._buffered_rows += table.num_rows
            self.statuses.update(batch)
            self.sources.update(row.source for row in observations)
            for row in observations:
                if row.status != "error" or not row.detail:
                    continue
                if row.detail in self.errors or len(self.errors) < ERROR_DETAILS:
                    self.errors[row.detail] += 1
            if self._buffered_rows >= self.row_group_rows:
                self._flush()
        return dict(batch)

    def record(self, usage: run_log.Usage, finished_at: datetime) -> run_log.RunRecord:
        """The run record of the rows added so far, with what the run spent."""
        return run_log.record_counts(
            self.run_id,
            self.platform,
            self.started_at,
            finished_at,
            self.statuses,
            self.sources,
            usage,
        )

    @property
    def error_detail(self) -> str | None:
        """The most frequent detail of the `error` rows added (None: no error row)."""
        with self._lock:
            common = self.errors.most_common(1)
        return common[0][0] if common else None

    def commit(self) -> LakeFile | None:
        """Make every added row visible as the run's file (None when no row was added)."""
        with self._lock:
            self._check()
            if self._buffer:
                self._flush()
            writer, self._writer = self._writer, None
            self._closed = True
        return writer.commit() if writer is not None else None

    def abort(self) -> None:
        """Give up: nothing of this run's file becomes visible."""
        with self._lock:
            self._buffer.clear()
            self._buffered_rows = 0
            writer, self._writer = self._writer, None
            self._closed = True
        if writer is not None:
            writer.abort()

    def _flush(self) -> None:
        if self._writer is None:
            self._writer = self.lake.writer(self.key, OBSERVATION_SCHEMA, PARQUET_OPTIONS)
        try:
            self._writer.write(pa.concat_tables(self._buffer))
        except BaseException as error:
            # The row groups already written went with the file: nothing more may be added.
            self._failure = error
            self._writer.abort()
            self._writer = None
            raise
        self._buffer = []
        self._buffered_rows = 0

    def _check(self) -> None:
        if self._closed:
            raise LakeError(f"{self.key}: this run's file is already committed or given up")
        if self._failure is not None:
            raise LakeError(
                f"{self.key}: an earlier write failed ({self._failure}); nothing of this run's "
                "file was kept"
            ) from self._failure


@contextlib.contextmanager
def landings(
    lake: Lake, platforms: Iterable[str], run_id: str, started_at: datetime
) -> Iterator[dict[str, Landing]]:
    """A `Landing` per platform. On leaving, whatever was not committed is given up (nothing
    partial stays); a signal's exception first sets the stop event (`stopping.stop_on`), so
    that the waits of fetches still running in other threads end too."""
    opened = {platform: Landing(lake, platform, run_id, started_at) for platform in platforms}
    try:
        yield opened
    except BaseException as error:
        stopping.stop_on(error)
        raise
    finally:
        for landing in opened.values():
            landing.abort()


def write_observations(
    lake: Lake,
    platform: str,
    run_id: str,
    started_at: datetime,
    observations: Sequence[Observation],
) -> LakeFile:
    """Land one platform's rows of a run as one Parquet file, atomically (see `Landing`)."""
    landing = Landing(lake, platform, run_id, started_at, row_group_rows=max(1, len(observations)))
    landing.add(observations)
    written = landing.commit()
    return written or lake.write(landing.key, to_table([]), PARQUET_OPTIONS)
