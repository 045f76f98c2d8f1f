"""Compaction on the Delta lake: delta-rs merges each closed day's small files, then vacuums.

Hourly snapshots leave 24 files per platform and day; queries over one file per run are
several times slower than over merged files (DESIGN "Facts measured", `make bench`). The
engine does the work and its transaction log makes it invisible to readers:

1. For each dataset, each closed day (`SETTLE` after it ends) with two or more files in some
   platform partition is compacted by `DeltaTable.optimize.compact` with the day as its
   partition filter: one `OPTIMIZE` version, whose actions say `dataChange: false`. A reader
   sees the version before it (the originals) or after it (the merged files), never both.
   Then the log is checked: every compacted (platform, day) holds exactly one file and the
   rows it held before (`DeltaLakeError` naming the partition otherwise).
2. Under the refresh lock (refresh and compaction never interleave) the build manifest
   learns the swap (`reflect_compaction`), so the next refresh recomputes nothing: the rows
   are identical.
3. The catalog is published: new connections read the merged files.
4. Every table is vacuumed (`full=True`, so killed writers' orphans go too) with the reader
   grace as retention: a connection opened on an older catalog names the originals, which
   stay on disk until the grace has passed since compaction removed them from the log.
   Time travel (`pl.scan_delta(..., version=N)`) reaches back as far as that too.

delta-rs measures the retention against the real clock, never against `compact`'s `clock`
argument, which decides only which days are closed.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Final

from deltalake import CommitProperties
from deltalake.exceptions import DeltaError

from followerledger import delta_lake, locks, pause, progress
from followerledger.catalog import publish
from followerledger.clock import utc_now
from followerledger.delta_lake import (
    DATASETS,
    DATE_COLUMN,
    MAX_COMMIT_RETRIES,
    TARGET_FILE_SIZE,
    DeltaDataset,
    DeltaFile,
    DeltaLake,
    DeltaLakeError,
    DeltaSnapshot,
    delta_lake_of,
)
from followerledger.layout import WarehouseLayout
from followerledger.leftovers import TEMPORARY_AGE, sweep_warehouse
from followerledger.manifest import ManifestStore
from followerledger.watchlist import Watchlist

__all__ = [
    "SETTLE",
    "CompactionReport",
    "DatasetCompaction",
    "closed_days",
    "compact",
    "compact_dataset",
    "reflect_compaction",
    "retention_hours",
    "vacuum_tables",
]

#: A day is closed this long after it ends: a run started just before midnight lands in the
#: day it started. (A file landing later is still safe: the next compaction merges it.)
SETTLE: Final = timedelta(hours=1)


@dataclasses.dataclass(frozen=True, slots=True)
class CompactionReport:
    """What one compaction did."""

    partitions: int
    files_before: int
    files_after: int
    rows: int
    files_vacuumed: int
    grace: timedelta
    seconds: float

    def describe(self) -> str:
        """One line saying what the compaction did."""
        return (
            f"compaction: {self.partitions} partitions compacted from {self.files_before} "
            f"files into {self.files_after} ({self.rows} rows); {self.files_vacuumed} "
            f"unreferenced files older than {self.grace.total_seconds() / 3600:g} h "
            f"vacuumed in {self.seconds:.2f} s"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class DatasetCompaction:
    """One table's compaction: its snapshots before and after, and what changed between."""

    dataset: DeltaDataset
    before: DeltaSnapshot
    after: DeltaSnapshot
    partitions: int
    files_before: int
    files_after: int
    rows: int


def _partition(file: DeltaFile) -> str:
    """The file's (dataset, platform, day) folder, relative to the lake root."""
    return file.key.rsplit("/", 1)[0]


def closed_days(files: Sequence[DeltaFile], now: datetime) -> list[date]:
    """Closed days on which some platform partition holds two or more files, in order."""
    last_closed = (now - SETTLE).date() - timedelta(days=1)
    counts: defaultdict[tuple[str, date], int] = defaultdict(int)
    for file in files:
        if file.day <= last_closed:
            counts[(file.platform, file.day)] += 1
    return sorted({day for (_, day), count in counts.items() if count > 1})


def retention_hours(grace: timedelta) -> int:
    """The reader grace as delta-rs' whole-hour retention, rounded up (never shorter)."""
    return math.ceil(grace.total_seconds() / 3600)


def compact_dataset(lake: DeltaLake, dataset: DeltaDataset, now: datetime) -> DatasetCompaction:
    """Compact the dataset's closed days that have a partition of two or more files, one
    `OPTIMIZE` version per day, and check the result against the log."""
    before = lake.snapshot(dataset)
    if not closed_days(before.files, now):
        return DatasetCompaction(dataset, before, before, 0, 0, 0, 0)
    table = lake.table(dataset)
    # The version the compaction starts from, which a writer may have moved meanwhile.
    before = lake.snapshot(dataset, version=table.version())
    days = closed_days(before.files, now)
    for done, day in enumerate(days):
        progress.step(f"compact: {dataset.name}", done, len(days))
        pause.point("compact-optimize")
        try:
            table.optimize.compact(
                partition_filters=[(DATE_COLUMN, "=", day.isoformat())],
                target_size=TARGET_FILE_SIZE,
                commit_properties=CommitProperties(
                    max_commit_retries=MAX_COMMIT_RETRIES,
                    custom_metadata={"followerledger": f"compaction of {day.isoformat()}"},
                ),
            )
        except DeltaError as error:
            # A writer replaced rows of that day meanwhile (a re-run, a re-import): delta-rs
            # refuses to commit over them, so nothing is lost; the days before stay compacted.
            raise DeltaLakeError(
                f"{dataset.name} {day.isoformat()}: changed while it was being compacted "
                f"({type(error).__name__}); run `followerledger compact` again"
            ) from None
    after = lake.snapshot(dataset, version=table.version())
    grouped: defaultdict[str, list[DeltaFile]] = defaultdict(list)
    for file in before.files:
        if file.day in days:
            grouped[_partition(file)].append(file)
    merged = {partition: files for partition, files in grouped.items() if len(files) > 1}
    now_held: defaultdict[str, list[DeltaFile]] = defaultdict(list)
    for file in after.files:
        if _partition(file) in merged:
            now_held[_partition(file)].append(file)
    for partition, originals in sorted(merged.items()):
        rows = sum(file.rows for file in originals)
        held = now_held[partition]
        # One file, unless its rows outgrow the target size (then as few as it takes).
        most = max(1, math.ceil(sum(file.size for file in originals) / delta_lake.TARGET_FILE_SIZE))
        if not 1 <= len(held) <= most or sum(file.rows for file in held) != rows:
            raise DeltaLakeError(
                f"{partition}: after compaction at version {after.version} it holds "
                f"{len(held)} files of {sum(file.rows for file in held)} rows, expected "
                f"{'1 file' if most == 1 else f'at most {most} files'} of the {rows} rows it "
                f"held at version {before.version}"
            )
    return DatasetCompaction(
        dataset,
        before,
        after,
        partitions=len(merged),
        files_before=sum(len(files) for files in merged.values()),
        files_after=len(merged),
        rows=sum(file.rows for files in merged.values() for file in files),
    )


#: Files no version names (a killed writer's, or a running one's) go once they are this old,
#: whatever the grace: like the temporary files `leftovers.sweep` removes. A grace of 0 must
#: never delete the files of a snapshot that is still landing (its commit would then name
#: files that are gone, and every reader of that version would fail).
ORPHAN_AGE: Final = TEMPORARY_AGE


def vacuum_tables(lake: DeltaLake, grace: timedelta) -> int:
    """Vacuum every dataset's table (one not created yet is left alone): the files compaction
    or a re-run replaced more than the grace ago, and orphans older than `ORPHAN_AGE` (or the
    grace, if longer); returns the files removed."""
    removed = 0
    for dataset in DATASETS:
        if lake.snapshot(dataset).version is not None:
            hours = retention_hours(grace)
            removed += len(lake.vacuum(dataset, hours, retention_hours(ORPHAN_AGE)))
    return removed


def reflect_compaction(
    lake_files: dict[str, tuple[int, int]],
    before: Sequence[DeltaFile],
    after: Sequence[DeltaFile],
) -> None:
    """Swap a compaction's originals for its new files in what refresh has reflected.

    Per partition: the originals (in `before`, not `after`) are dropped from `lake_files`;
    when every one of them was there, and the new files (in `after`, not `before`) hold
    exactly their rows, the new files' keys come in with `(size, rows)`, so refresh
    recomputes nothing. Otherwise refresh sees the new files as added and recomputes.
    """
    before_keys = {file.key for file in before}
    after_keys = {file.key for file in after}
    originals: defaultdict[str, list[DeltaFile]] = defaultdict(list)
    added: defaultdict[str, list[DeltaFile]] = defaultdict(list)
    for file in before:
        if file.key not in after_keys:
            originals[_partition(file)].append(file)
    for file in after:
        if file.key not in before_keys:
            added[_partition(file)].append(file)
    for partition, gone in originals.items():
        new = added.get(partition, [])
        reflected = all(file.key in lake_files for file in gone) and sum(
            file.rows for file in gone
        ) == sum(file.rows for file in new)
        for file in gone:
            lake_files.pop(file.key, None)
        if reflected:
            for file in new:
                lake_files[file.key] = (file.size, file.rows)


def compact(
    layout: WarehouseLayout,
    watchlist: Watchlist | None,
    *,
    grace: timedelta,
    clock: Callable[[], datetime] = utc_now,
) -> CompactionReport:
    """Compact every closed day with a partition of two or more files, then vacuum every
    table with `grace` as retention (measured by delta-rs on the real clock; `clock` only
    decides which days are closed)."""
    started = time.perf_counter()
    sweep_warehouse(layout)
    lake = delta_lake_of(layout)
    store = ManifestStore(layout)
    with locks.hold(layout, "refresh"):
        state = store.load()
        now = clock()
        done = [compact_dataset(lake, dataset, now) for dataset in DATASETS]
        for result in done:
            name = result.dataset.name
            reflect_compaction(state.lake_files, result.before.files, result.after.files)
            reflected = {key for key in state.lake_files if key.startswith(f"{name}/")}
            # Only when the marts now reflect exactly this version's files.
            if result.after.version is not None and reflected == {
                file.key for file in result.after.files
            }:
                state.lake_versions[name] = result.after.version
        store.save(state)
        if any(result.partitions for result in done):
            progress.step("compact: publishing the catalog")
            publish(layout, watchlist)
        progress.step("compact: vacuum")
        vacuumed = vacuum_tables(lake, grace)
    return CompactionReport(
        partitions=sum(result.partitions for result in done),
        files_before=sum(result.files_before for result in done),
        files_after=sum(result.files_after for result in done),
        rows=sum(result.rows for result in done),
        files_vacuumed=vacuumed,
        grace=grace,
        seconds=time.perf_counter() - started,
    )
