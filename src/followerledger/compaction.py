"""Compaction: merge each closed day's small lake files into one file per platform and day.

Hourly snapshots leave 24 files per platform and day; queries over one file per run are
several times slower than over merged files (DESIGN "Facts measured", `make bench`).
Compaction merges them without any reader ever seeing a half-done state:

1. A partition's rows are written, unchanged, to `compacted-<digest>.parquet` (no run id
   may start with `compacted-`; the digest names the files merged, so a re-run writes the
   same file). Its footer lists every key whose rows it holds. The file appears by an
   atomic rename, and from that instant every reader that lists the lake
   (`BuildManifest.current`: catalog publication, refresh, the run report) sees it
   instead of the originals: never both, never neither. The lake alone decides; the state
   only caches the footers.
2. Under the refresh lock (refresh and compaction never interleave) the state records the
   merge, and `state.lake_files` swaps the originals for the merged file when refresh had
   reflected all of them, so refresh recomputes nothing (the rows are identical).
3. The catalog is published: new connections read the merged file.
4. Originals are deleted only once the grace period has passed since the merge (at a
   later compaction), so a connection opened on an older catalog, which names the
   originals, keeps working. A re-created original (the same CSV imported again) stays
   superseded: the merged file's footer still lists it.

Raw readers that glob the lake directory are the one exception: until the originals are
deleted they see both. Read through the catalog.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Final

import pyarrow as pa

from followerledger import locks
from followerledger.catalog import publish
from followerledger.clock import utc_now
from followerledger.lake import (
    COMPACTED_AT,
    COMPACTED_PREFIX,
    SUPERSEDES,
    Lake,
    LakeError,
    LakeFile,
    is_compacted,
    lake_of,
)
from followerledger.layout import WarehouseLayout
from followerledger.manifest import BuildManifest, ManifestStore
from followerledger.models import LAKE_DATASETS
from followerledger.watchlist import Watchlist

__all__ = [
    "SETTLE",
    "CompactionReport",
    "closed_partitions",
    "compact",
    "expired",
    "merge_partition",
    "merged_key",
    "reflect_merge",
]

#: A day is closed this long after it ends: a run started just before midnight lands in the
#: day it started. (A file landing later is still safe: the next compaction merges it.)
SETTLE: Final = timedelta(hours=1)


@dataclasses.dataclass(frozen=True, slots=True)
class CompactionReport:
    """What one compaction did."""

    partitions: int
    files_merged: int
    rows: int
    files_deleted: int
    grace: timedelta
    seconds: float

    def describe(self) -> str:
        """One line saying what the compaction did."""
        return (
            f"compaction: {self.partitions} partitions merged from {self.files_merged} files "
            f"({self.rows} rows); {self.files_deleted} originals older than "
            f"{self.grace.total_seconds() / 3600:g} h deleted in {self.seconds:.2f} s"
        )


def merged_key(files: Sequence[LakeFile]) -> str:
    """The key of the file merging these (all in one partition): the same files, the same key."""
    directory = files[0].key.rsplit("/", 1)[0]
    names = "\n".join(f"{item.key}:{item.size}" for item in sorted(files, key=lambda f: f.key))
    digest = hashlib.sha256(names.encode()).hexdigest()[:16]
    return f"{directory}/{COMPACTED_PREFIX}{digest}.parquet"


def closed_partitions(files: Sequence[LakeFile], now: datetime) -> list[list[LakeFile]]:
    """Current files of closed days, grouped by partition; only partitions with two or more."""
    last_closed = (now - SETTLE).date() - timedelta(days=1)
    partitions: dict[str, list[LakeFile]] = defaultdict(list)
    for item in files:
        if item.day <= last_closed:
            partitions[item.key.rsplit("/", 1)[0]].append(item)
    return [group for _, group in sorted(partitions.items()) if len(group) > 1]


def merge_partition(
    lake: Lake, state: BuildManifest, files: Sequence[LakeFile], now: datetime
) -> tuple[LakeFile, int]:
    """Write every row of these files to their merged file; return it and its row count."""
    tables = [lake.read(item.key) for item in files]
    # Older files may lack a column added since; it is filled with nulls, exactly what a
    # reader's `union_by_name` gives for them.
    merged = pa.concat_tables(tables, promote_options="default")
    expected = sum(table.num_rows for table in tables)
    keys = {item.key for item in files}
    # What a merged file being merged again had superseded stays superseded.
    supersedes = sorted(keys | {old for old, holder in state.superseded.items() if holder in keys})
    footer = {SUPERSEDES: json.dumps(supersedes), COMPACTED_AT: now.isoformat()}
    written = lake.write(merged_key(files), merged.replace_schema_metadata(footer))
    if lake.row_count(written.key) != expected:
        raise LakeError(f"{written.key}: merged file does not hold the {expected} rows merged")
    state.record_compaction(written.key, now.isoformat(), supersedes)
    return written, expected


def reflect_merge(state: BuildManifest, files: Sequence[LakeFile], merged: LakeFile) -> None:
    """Swap the originals for the merged file in what refresh has reflected (when it had
    reflected all of them), so that refresh does not recompute identical rows."""
    reflected = all(state.lake_files.get(f.key) == (f.size, f.mtime_ns) for f in files)
    for item in files:
        state.lake_files.pop(item.key, None)
    if reflected:
        state.lake_files[merged.key] = (merged.size, merged.mtime_ns)


def expired(files: Sequence[LakeFile], state: BuildManifest, before: datetime) -> list[LakeFile]:
    """Superseded files whose rows a present compacted file has held since `before`."""
    present = {item.key for item in files if is_compacted(item.key)}
    found = []
    for item in files:
        holder = state.superseded.get(item.key)
        if holder in present and datetime.fromisoformat(state.compacted[holder]) <= before:
            found.append(item)
    return found


def compact(
    layout: WarehouseLayout,
    watchlist: Watchlist | None,
    *,
    grace: timedelta,
    clock: Callable[[], datetime] = utc_now,
) -> CompactionReport:
    """Merge every closed partition with two or more files; delete originals past `grace`."""
    started = time.perf_counter()
    lake = lake_of(layout)
    lake.sweep_leftovers(layout)
    store = ManifestStore(layout)
    partitions = files_merged = rows = deleted = 0
    with locks.hold(layout, "refresh"):
        state = store.load()
        now = clock()
        for dataset in LAKE_DATASETS:
            for group in closed_partitions(state.current(lake, dataset), now):
                merged, count = merge_partition(lake, state, group, now)
                reflect_merge(state, group, merged)
                partitions += 1
                files_merged += len(group)
                rows += count
        store.save(state)
        if partitions:
            publish(layout, watchlist)
        listed = [item for dataset in LAKE_DATASETS for item in lake.list(dataset)]
        for item in expired(listed, state, now - grace):
            lake.remove(item.key)
            deleted += 1
    return CompactionReport(
        partitions, files_merged, rows, deleted, grace, time.perf_counter() - started
    )
