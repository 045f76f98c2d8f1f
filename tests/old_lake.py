"""The lake as followerledger wrote it before issue 14 (run files, not Delta tables), for
`migrate`'s tests: nothing in the package writes this layout any more.

Written exactly as the old code did (`git show main:src/followerledger/landing.py`,
`…/run_log.py`, `…/history_import.py`, `…/compaction.py`), through `lake.Lake.write`:
- a snapshot run: per platform, `observations/platform=<p>/date=<run start day>/<run_id>.parquet`
  (`OBSERVATION_SCHEMA`, `PARQUET_OPTIONS`) and its run record at the same place under
  `run_log/` (`RUN_LOG_SCHEMA`); no `date` column in either;
- an import: `observations/platform=<p>/date=<UTC day of observed_at>/import-<sha>.parquet`;
- a compaction: each closed day's current files of a platform merged into
  `compacted-<digest>.parquet`, footer `SUPERSEDES` (the keys it holds the rows of) and
  `COMPACTED_AT`, the originals left on disk (the reader grace period).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Final

import duckdb
import pyarrow as pa

from followerledger import run_log
from followerledger.lake import (
    COMPACTED_AT,
    COMPACTED_PREFIX,
    SUPERSEDES,
    Lake,
    LakeFile,
    is_compacted,
    observation_key,
)
from followerledger.layout import WarehouseLayout
from followerledger.migration import DATASET_SCHEMAS, old_current_files
from followerledger.models.duckdb_sql import literal
from followerledger.observation import PARQUET_OPTIONS, Observation, to_table
from followerledger.sources.base import Usage

#: The old compaction's rule: a day is closed an hour after it ends.
SETTLE: Final = timedelta(hours=1)


def old_lake(layout: WarehouseLayout) -> Lake:
    """The warehouse's (local) lake folder, read and written as run files."""
    return Lake(layout.local_lake)


def run_record(run_id: str, started_at: datetime, rows: Sequence[Observation]) -> pa.Table:
    """One platform's run record as the snapshot flow made it (as `tests.tiny.land` does)."""
    finished_at = max(row.observed_at for row in rows)
    platform = rows[0].platform
    return run_log.summarize(run_id, platform, started_at, finished_at, rows, Usage(1)).to_table()


def write_run(
    lake: Lake,
    run_id: str,
    started_at: datetime,
    rows: Sequence[Observation],
    *,
    drop: Sequence[str] = (),
) -> list[str]:
    """One snapshot run in the old layout: per platform its rows and its run record, under
    the run's start day. `drop`: observation columns the file predates (an older version
    wrote it). The keys written."""
    keys = []
    for platform in sorted({row.platform for row in rows}):
        platform_rows = [row for row in rows if row.platform == platform]
        table = to_table(platform_rows).drop_columns(list(drop))
        options = {name: [c for c in v if c not in drop] for name, v in PARQUET_OPTIONS.items()}
        key = observation_key(platform, started_at.date(), run_id)
        lake.write(key, table, options)
        record_key = f"{run_log.DATASET}/{key.removeprefix('observations/')}"
        lake.write(record_key, run_record(run_id, started_at, platform_rows))
        keys += [key, record_key]
    return keys


def import_partitions(rows: Sequence[Observation]) -> dict[tuple[str, date], list[Observation]]:
    """An import's rows by platform and UTC day of `observed_at` (its files' partitions)."""
    partitions: dict[tuple[str, date], list[Observation]] = defaultdict(list)
    for row in rows:
        partitions[(row.platform, row.observed_at.date())].append(row)
    return dict(sorted(partitions.items()))


def write_import(lake: Lake, run_id: str, rows: Sequence[Observation]) -> list[str]:
    """An imported history in the old layout: one file per platform and UTC day; the keys."""
    keys = []
    for (platform, day), partition in import_partitions(rows).items():
        key = observation_key(platform, day, run_id)
        lake.write(key, to_table(partition), PARQUET_OPTIONS)
        keys.append(key)
    return keys


def merged_key(files: Sequence[LakeFile]) -> str:
    """The old compaction's name for the file merging these (one partition's files)."""
    directory = files[0].key.rsplit("/", 1)[0]
    names = "\n".join(f"{item.key}:{item.size}" for item in sorted(files, key=lambda f: f.key))
    digest = hashlib.sha256(names.encode()).hexdigest()[:16]
    return f"{directory}/{COMPACTED_PREFIX}{digest}.parquet"


def compact(lake: Lake, now: datetime) -> int:
    """The old compaction: every closed partition with two or more current files merged into
    one compacted file, its originals left on disk; the partitions merged."""
    last_closed = (now - SETTLE).date() - timedelta(days=1)
    merged = 0
    for dataset in DATASET_SCHEMAS:
        partitions: dict[str, list[LakeFile]] = defaultdict(list)
        for item in old_current_files(lake, dataset):
            if item.day <= last_closed:
                partitions[item.key.rsplit("/", 1)[0]].append(item)
        for _, group in sorted(partitions.items()):
            if len(group) < 2:
                continue
            keys = {item.key for item in group}
            # What a compacted file being merged again had superseded stays superseded.
            for item in group:
                if is_compacted(item.key):
                    keys.update(json.loads(lake.footer(item.key)[SUPERSEDES]))
            table = pa.concat_tables(
                [lake.read(item.key) for item in group], promote_options="default"
            )
            footer = {SUPERSEDES: json.dumps(sorted(keys)), COMPACTED_AT: now.isoformat()}
            lake.write(merged_key(group), table.replace_schema_metadata(footer))
            merged += 1
    return merged


def current_rows(lake: Lake, dataset: str) -> list[tuple[Any, ...]]:
    """The rows the old layout's current files of a dataset hold (`old_current_files`), read
    by DuckDB in the dataset's columns (a column a file predates reads as null), ordered."""
    paths = [lake.path(item.key) for item in old_current_files(lake, dataset)]
    columns = ", ".join(DATASET_SCHEMAS[dataset].names)
    if not paths:
        return []
    listed = ", ".join(literal(path) for path in paths)
    with duckdb.connect() as connection:
        connection.execute("set TimeZone = 'UTC'")
        return connection.sql(
            f"select {columns} from read_parquet([{listed}], union_by_name = true, "
            "hive_partitioning = false) order by all"
        ).fetchall()
