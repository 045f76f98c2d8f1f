"""A lake as `followerledger compact` left it before issue 14, for `migrate`'s tests: each
closed day's run files merged into `compacted-<digest>.parquet`, whose footer lists the
originals, which stay on disk within the reader grace. Compaction itself is now delta-rs'
(`followerledger.compaction`); only a lake of the old layout needs this shape built."""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

import pyarrow as pa

from followerledger.compaction import SETTLE
from followerledger.lake import COMPACTED_AT, COMPACTED_PREFIX, SUPERSEDES, LakeFile, lake_of
from followerledger.layout import WarehouseLayout
from followerledger.manifest import BuildManifest
from followerledger.models import LAKE_DATASETS


def _merged_key(files: Sequence[LakeFile]) -> str:
    directory = files[0].key.rsplit("/", 1)[0]
    names = "\n".join(f"{item.key}:{item.size}" for item in sorted(files, key=lambda f: f.key))
    return (
        f"{directory}/{COMPACTED_PREFIX}{hashlib.sha256(names.encode()).hexdigest()[:16]}.parquet"
    )


def compact_run_files(layout: WarehouseLayout, now: datetime) -> int:
    """Merge every closed partition of two or more current run files as the old compaction
    did (its originals kept); returns the partitions merged. A lake compacted once only:
    merging a merged file again is not rebuilt here."""
    lake = lake_of(layout)
    state = BuildManifest()
    last_closed = (now - SETTLE).date() - timedelta(days=1)
    merged = 0
    for dataset in LAKE_DATASETS:
        partitions: defaultdict[str, list[LakeFile]] = defaultdict(list)
        for item in state.current(lake, dataset):
            if item.day <= last_closed:
                partitions[item.key.rsplit("/", 1)[0]].append(item)
        for _, group in sorted(partitions.items()):
            if len(group) < 2:
                continue
            table = pa.concat_tables(
                [lake.read(item.key) for item in group], promote_options="default"
            )
            footer = {
                SUPERSEDES: json.dumps(sorted(item.key for item in group)),
                COMPACTED_AT: now.isoformat(),
            }
            lake.write(_merged_key(group), table.replace_schema_metadata(footer))
            merged += 1
    return merged
