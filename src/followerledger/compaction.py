"""Compaction: merge each closed day's small lake files into one file per platform and day.

Hourly snapshots leave 24 files per platform and day; queries over one file per run are
several times slower than over merged files (DESIGN "Facts measured"). Compaction merges
them without any reader ever seeing a half-done state:

1. The rows of a partition's files are written, unchanged, to a new file named
   `compacted-<digest>.parquet`: no run id may start with `compacted-`
   (`lake.check_run_id`), and the digest names the merged files, so re-running after a
   crash rewrites the same file. Until step 2 it is invisible: `Lake.current` ignores a
   compacted file that no file is recorded as superseded by.
2. Under the refresh lock (refresh and compaction never interleave), one atomic replace
   of the warehouse state records every original as superseded by the merged file. Every
   reader of the state (catalog publication, refresh, alerts) sees either the originals
   or the merged file: never both, never neither. `state.lake_files` swaps the originals
   for the merged file when refresh had reflected all of them, so refresh does not
   recompute anything (the rows are identical).
3. The catalog is published: new connections read the merged file.
4. Originals are deleted only once the grace period has passed since they were superseded
   (at a later compaction), so a connection opened on an older catalog, which names the
   originals, keeps working. Their superseded entries stay, so a re-created original (the
   same CSV imported again) never counts twice.

Raw readers that glob the lake directory are the one exception: during the grace period
they see the originals and the merged file. Read through the catalog.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import pyarrow as pa

from followerledger.catalog import publish
from followerledger.lake import (
    COMPACTED_PREFIX,
    Lake,
    LakeError,
    LakeFile,
    current_files,
    is_compacted,
)
from followerledger.models import LAKE_DATASETS
from followerledger.sources.http import utc_now
from followerledger.state import StateStore, WarehouseState
from followerledger.watchlist import Watchlist

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
    orphans_removed: int
    seconds: float


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


def merge_partition(lake: Lake, files: Sequence[LakeFile]) -> tuple[LakeFile, int]:
    """Write every row of these files to their merged file; return it and its row count."""
    tables = [lake.read(item.key) for item in files]
    # Older files may lack a column added since; it is filled with nulls, exactly what a
    # reader's `union_by_name` gives for them.
    merged = pa.concat_tables(tables, promote_options="default")
    expected = sum(table.num_rows for table in tables)
    written = lake.write(merged_key(files), merged)
    if lake.row_count(written.key) != expected:
        raise LakeError(f"{written.key}: merged file does not hold the {expected} rows merged")
    return written, expected


def record_merge(
    state: WarehouseState, files: Sequence[LakeFile], merged: LakeFile, now: datetime
) -> None:
    """Mark the originals superseded by the merged file, and keep refresh from re-reading it."""
    reflected = all(state.lake_files.get(f.key) == (f.size, f.mtime_ns) for f in files)
    for item in files:
        state.superseded[item.key] = merged.key
        state.lake_files.pop(item.key, None)
    state.compacted[merged.key] = now.isoformat()
    if reflected:
        state.lake_files[merged.key] = (merged.size, merged.mtime_ns)


def orphans(files: Sequence[LakeFile], superseded: Mapping[str, str]) -> list[LakeFile]:
    """Compacted files of an interrupted compaction (never recorded, so never read)."""
    committed = set(superseded.values())
    return [
        item
        for item in files
        if is_compacted(item.key) and item.key not in committed and item.key not in superseded
    ]


def expired(files: Sequence[LakeFile], state: WarehouseState, before: datetime) -> list[LakeFile]:
    """Superseded files whose merged file was committed at or before `before`."""
    found = []
    for item in files:
        merged = state.superseded.get(item.key)
        if merged is None:
            continue
        committed = state.compacted.get(merged)
        if committed is None or datetime.fromisoformat(committed) <= before:
            found.append(item)
    return found


def compact(
    warehouse: Path,
    lake: Lake,
    watchlist: Watchlist | None,
    *,
    grace: timedelta,
    clock: Callable[[], datetime] = utc_now,
) -> CompactionReport:
    """Merge every closed partition with two or more files; delete originals past `grace`."""
    started = time.perf_counter()
    store = StateStore(warehouse)
    partitions = files_merged = rows = deleted = 0
    with store.lock("refresh"):
        state = store.load()
        now = clock()
        listed = [item for dataset in LAKE_DATASETS for item in lake.list(dataset)]
        stray = orphans(listed, state.superseded)
        for item in stray:
            lake.remove(item.key)
        listed = [item for item in listed if item not in stray]
        for group in closed_partitions(current_files(listed, state.superseded), now):
            merged, count = merge_partition(lake, group)
            record_merge(state, group, merged, now)
            partitions, files_merged, rows = partitions + 1, files_merged + len(group), rows + count
        if partitions:
            store.save(state)
            publish(warehouse, lake, watchlist)
        for item in expired(listed, state, now - grace):
            lake.remove(item.key)
            deleted += 1
    return CompactionReport(
        partitions, files_merged, rows, deleted, len(stray), time.perf_counter() - started
    )
