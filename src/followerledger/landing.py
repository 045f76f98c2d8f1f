"""Landing: a snapshot run's rows handed on as their batches arrive (held in memory up to a
buffer, then staged outside the table by `DeltaRunWriter`), one commit to the lake's
observations table per platform per run (per shard of it, in a sharded run), nothing visible
before it.

A run's rows go to the Delta table's partition of the run's UTC start date; a commit replaces
exactly this run's earlier rows of that platform (of that shard), whatever their date (a
re-run of a run id never doubles it), and a killed run leaves only data files no version
names, which `vacuum` removes.
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
from followerledger.delta_lake import OBSERVATIONS, RUN_LOG, DeltaLake
from followerledger.delta_writer import DeltaRunWriter, replace_run
from followerledger.lake import LakeError, check_run_id
from followerledger.observation import Observation, salvaged, to_table
from followerledger.shards import ShardSpec

__all__ = [
    "ERROR_DETAILS",
    "ROW_GROUP_ROWS",
    "Landing",
    "clear_shard",
    "landings",
    "read_error_details",
    "read_run_records",
    "write_observations",
    "write_run_record",
]

#: Rows kept in memory before they are handed to the table's writer as one batch: a run's
#: memory stays flat however many accounts it watches, and a usual run is one batch.
ROW_GROUP_ROWS: Final = 20_000
#: Distinct `error` details a landing counts (the rest of a run's errors are counted by
#: status only): enough to name the cause of a platform's failure, never a row per account.
ERROR_DETAILS: Final = 20


class Landing:
    """One platform's rows of a run, landed in the observations table as one version.

    Batches are added from any thread; rows are buffered up to `row_group_rows`, then handed
    to the run's `DeltaRunWriter` (started at the first full buffer; it stages them), whose
    commit replaces exactly this run's rows of this platform. Only counts stay in memory: rows per
    status, where they came from, and how often the first `ERROR_DETAILS` distinct error
    details occurred. A row Arrow cannot convert is landed as an `error` row naming the field
    (`salvaged`), so one bad value never loses the run. Every row must carry
    the landing's run id and platform (LakeError otherwise, before anything is buffered).
    """

    def __init__(
        self,
        lake: DeltaLake,
        platform: str,
        run_id: str,
        started_at: datetime,
        row_group_rows: int = ROW_GROUP_ROWS,
        shard: ShardSpec | None = None,
    ) -> None:
        self.lake = lake
        self.platform, self.run_id, self.started_at = platform, check_run_id(run_id), started_at
        self.day = started_at.date()
        #: The run's shard these rows are, or None (an unsharded landing).
        self.shard = shard
        suffix = f" shard {shard.index}" if shard is not None else ""
        self.name = f"{OBSERVATIONS.name} {platform} run {run_id}{suffix}"
        self.row_group_rows = row_group_rows
        self.statuses: Counter[str] = Counter()
        self.sources: set[str] = set()
        self.errors: Counter[str] = Counter()
        self._buffer: list[pa.Table] = []
        self._buffered_rows = 0
        self._writer: DeltaRunWriter | None = None
        self._failure: BaseException | None = None
        self._closed = False
        self._lock = threading.Lock()

    def add(self, observations: Sequence[Observation]) -> dict[str, int]:
        """Take a batch's rows; returns the batch's count of rows per status."""
        self._check_rows(observations)
        try:
            table = to_table(observations)
        except (pa.ArrowException, ValueError, TypeError, OverflowError):
            observations = salvaged(observations)
            table = to_table(observations)
        if self.shard is not None:
            index = table.schema.get_field_index("shard")
            column = pa.array([self.shard.index] * table.num_rows, pa.int32())
            table = table.set_column(index, table.schema.field(index), column)
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

    def record(
        self, usage: run_log.Usage, finished_at: datetime, credential: str | None = None
    ) -> run_log.RunRecord:
        """The run record of the rows added so far (of this shard), with what the run spent
        and the label of the credential it spent it on."""
        return run_log.record_counts(
            self.run_id,
            self.platform,
            self.started_at,
            finished_at,
            self.statuses,
            self.sources,
            usage,
            shard=self.shard.index if self.shard is not None else None,
            credential=credential,
        )

    @property
    def error_detail(self) -> str | None:
        """The most frequent detail of the `error` rows added (None: no error row)."""
        with self._lock:
            common = self.errors.most_common(1)
        return common[0][0] if common else None

    def commit(self) -> int | None:
        """Make every added row visible in one version, replacing this run's earlier rows of
        this platform; returns the version (None when no row was added: nothing is
        written, and an earlier landing of the run stays as it was)."""
        with self._lock:
            self._check()
            if self._writer is not None and self._buffer:
                self._flush()
            writer, self._writer = self._writer, None
            # A run that fits one buffer (the usual one) is written at once, never staged.
            held = pa.concat_tables(self._buffer) if writer is None and self._buffer else None
            self._buffer, self._buffered_rows = [], 0
            self._closed = True
        if writer is not None:
            return writer.commit()
        if held is None:
            return None
        return replace_run(
            self.lake, OBSERVATIONS, self.platform, self.run_id, self.day, held, self.shard
        )

    def abort(self) -> None:
        """Give up: no version names any of this run's rows."""
        with self._lock:
            self._buffer.clear()
            self._buffered_rows = 0
            writer, self._writer = self._writer, None
            self._closed = True
        if writer is not None:
            writer.abort()

    def _check_rows(self, observations: Sequence[Observation]) -> None:
        # On the rows, not the table: Arrow's compute calls cost more than a batch of 25.
        for column, expected in (("run_id", self.run_id), ("platform", self.platform)):
            if any(getattr(row, column) != expected for row in observations):
                raise LakeError(f"{self.name}: a row of another {column} was added")

    def _flush(self) -> None:
        try:
            if self._writer is None:
                self._writer = DeltaRunWriter(
                    self.lake, OBSERVATIONS, self.platform, self.run_id, self.day, shard=self.shard
                )
            self._writer.write(pa.concat_tables(self._buffer))
        except BaseException as error:
            # What was staged is dropped with the write: nothing more may be added.
            self._failure = error
            if self._writer is not None:
                self._writer.abort()
                self._writer = None
            raise
        self._buffer = []
        self._buffered_rows = 0

    def _check(self) -> None:
        if self._closed:
            raise LakeError(f"{self.name}: this run's rows are already committed or given up")
        if self._failure is not None:
            raise LakeError(
                f"{self.name}: an earlier write failed ({type(self._failure).__name__}); "
                "nothing of this run's rows was kept"
            ) from self._failure


@contextlib.contextmanager
def landings(
    lake: DeltaLake,
    platforms: Iterable[str],
    run_id: str,
    started_at: datetime,
    shard: ShardSpec | None = None,
) -> Iterator[dict[str, Landing]]:
    """A `Landing` per platform (of one shard, when given): on leaving, whatever was not
    committed is given up; a signal's exception first sets the stop event
    (`stopping.stop_on`), so that the waits of fetches still running in other threads end too."""
    opened = {
        platform: Landing(lake, platform, run_id, started_at, shard=shard) for platform in platforms
    }
    try:
        yield opened
    except BaseException as error:
        stopping.stop_on(error)
        raise
    finally:
        for landed in opened.values():
            landed.abort()


def clear_shard(
    lake: DeltaLake, platform: str, run_id: str, started_at: datetime, shard: ShardSpec
) -> bool:
    """Drop what an earlier landing of this run id left under this shard for a platform the
    shard now has no account of (the run landed again in fewer shards, or after a watchlist
    edit): its rows, then its record, each in one commit replacing them with nothing. Only
    when the run log holds such a record under the run's start day (a run id landed for the
    first time costs one small read); True when something was dropped."""
    records = lake.read_run(RUN_LOG, run_id, started_at.date(), ["shard"], platform=platform)
    shards = set(records.column("shard").to_pylist())
    if shard.index == 0:
        covered = any(s is None or s == 0 or s >= shard.count for s in shards)
    else:
        covered = shard.index in shards
    if not covered:
        return False
    day = started_at.date()
    replace_run(lake, OBSERVATIONS, platform, run_id, day, to_table([]), shard)
    replace_run(lake, RUN_LOG, platform, run_id, day, run_log.RUN_LOG_SCHEMA.empty_table(), shard)
    return True


def write_run_record(
    lake: DeltaLake, record: run_log.RunRecord, shard: ShardSpec | None = None
) -> int:
    """Land the record in the run-log table, replacing the run's earlier record of that
    platform (of that shard, whose index the record's `shard` is); returns the version."""
    if (shard.index if shard is not None else None) != record.shard:
        raise LakeError(f"run {record.run_id} {record.platform}: a record of another shard")
    return replace_run(
        lake,
        RUN_LOG,
        record.platform,
        check_run_id(record.run_id),
        record.started_at.date(),
        record.to_table(),
        shard,
    )


def write_observations(
    lake: DeltaLake,
    platform: str,
    run_id: str,
    started_at: datetime,
    observations: Sequence[Observation],
) -> int | None:
    """Land one platform's rows of a run in one commit (see `Landing`); the version made
    (None when there is no row: nothing is written)."""
    landing = Landing(
        lake, platform, run_id, started_at, row_group_rows=max(1, len(observations)) + 1
    )
    landing.add(observations)
    return landing.commit()


def read_run_records(lake: DeltaLake, run_id: str, started_at: datetime) -> list[run_log.RunRecord]:
    """The run's records as the run-log table holds them (one per platform and shard that
    landed), read back from the lake: the truth a run's tail reports from."""
    rows = lake.read_run(RUN_LOG, run_id, started_at.date(), list(run_log.RUN_LOG_SCHEMA.names))
    return run_log.from_rows(rows.sort_by([("platform", "ascending"), ("shard", "ascending")]))


def read_error_details(
    lake: DeltaLake, run_id: str, started_at: datetime, platforms: Iterable[str]
) -> dict[str, str | None]:
    """The most frequent `detail` of each platform's `error` rows in the run (None: no error
    row), read from the observations table: only the run's error rows of those platforms."""
    details: dict[str, str | None] = {}
    for platform in platforms:
        rows = lake.read_run(
            OBSERVATIONS, run_id, started_at.date(), ["detail"], platform=platform, status="error"
        )
        counts: Counter[str] = Counter(
            detail for detail in rows.column("detail").to_pylist() if detail
        )
        common = counts.most_common(1)
        details[platform] = common[0][0] if common else None
    return details
