"""Q5 - incremental refresh: what files were added/removed since the version the warehouse
last saw, on a table of ~10,000 files: add-action diff of two versions, the commit JSONs of
the versions in between, and the change data feed (load_cdf).

Run: .venv/bin/python spikes/local_incremental.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, __version__, write_deltalake

sys.path.insert(0, os.path.dirname(__file__))
from _local_common import PARTITIONS, Timer, batch  # noqa: E402

print("deltalake", __version__)


def ten_thousand_files() -> pa.Table:
    b = pa.Table.from_batches([batch("old", "x", date(2000, 1, 1), 10_000)])
    days = pa.array([date.fromordinal(date(2000, 1, 1).toordinal() + i // 5)
                     for i in range(10_000)], pa.date32())
    b = b.set_column(b.schema.get_field_index("date"), "date", days)
    return b.set_column(b.schema.get_field_index("platform"), "platform",
                        pa.array(["abcde"[i % 5] for i in range(10_000)]))


def paths(dt: DeltaTable) -> set[str]:
    return set(pa.table(dt.get_add_actions(flatten=False)).column("path").to_pylist())


with tempfile.TemporaryDirectory() as tmp:
    root = os.path.join(tmp, "t")
    write_deltalake(root, ten_thousand_files(), partition_by=PARTITIONS,
                    configuration={"delta.enableChangeDataFeed": "true"})
    seen = 0  # the version the warehouse last saw
    day = date(2026, 11, 30)
    write_deltalake(root, batch("run1", "x", day, 2_000), mode="append")          # v1: add
    write_deltalake(root, batch("run1", "x", day, 1_000), mode="overwrite",        # v2: replace
                    predicate="run_id = 'run1' AND platform = 'x'")
    write_deltalake(root, batch("run2", "y", day, 2_000), mode="append")          # v3: add
    dt = DeltaTable(root)
    print("current version", dt.version(), "files", len(dt.file_uris()))

    # (a) diff of the add actions of two versions
    with Timer() as ta:
        now = DeltaTable(root)
        old = DeltaTable(root, version=seen)
        added, removed = paths(now) - paths(old), paths(old) - paths(now)
    print(f"(a) add-action diff v{seen}..v{now.version()}: +{len(added)} -{len(removed)} files "
          f"in {ta.s * 1000:.0f} ms (two snapshots of ~10k files)")
    assert len(added) == 2 and not removed

    # (b) the commit files of the versions in between: adds and removes per commit
    with Timer() as tb:
        adds, removes = set(), set()
        for v in range(seen + 1, now.version() + 1):
            with open(os.path.join(root, "_delta_log", f"{v:020d}.json")) as f:
                for line in f:
                    action = json.loads(line)
                    if "add" in action:
                        adds.add(action["add"]["path"])
                    elif "remove" in action:
                        removes.add(action["remove"]["path"])
        net_added, net_removed = adds - removes, removes - adds
    print(f"(b) commit JSONs v{seen + 1}..v{now.version()}: adds {len(adds)}, removes "
          f"{len(removes)}, net +{len(net_added)} -{len(net_removed)} in {tb.s * 1000:.1f} ms")
    assert net_added == added and net_removed == removed

    # history(): operations and metrics, not file names
    with Timer() as th:
        hist = now.history()
    print(f"    history(): {len(hist)} entries in {th.s * 1000:.1f} ms, e.g. "
          f"{ {k: hist[0][k] for k in ('version', 'operation', 'timestamp') if k in hist[0]} }")

    # (c) the change data feed: rows, not files
    with Timer() as tc:
        cdf = pa.table(now.load_cdf(starting_version=seen + 1))
    kinds = dict(zip(*[c.to_pylist() for c in
                       pc.value_counts(cdf["_change_type"]).flatten()], strict=True))
    print(f"(c) load_cdf(starting_version={seen + 1}): {cdf.num_rows} rows in "
          f"{tc.s * 1000:.0f} ms, _change_type counts {kinds}, extra columns "
          f"{[c for c in cdf.column_names if c.startswith('_')]}")
    assert kinds.get("insert", 0) == 2_000 + 1_000 + 2_000 and kinds.get("delete", 0) == 2_000

    # cost of one snapshot at 10k files, with and without a checkpoint
    with Timer() as t0:
        DeltaTable(root)
    now.create_checkpoint()
    with Timer() as t1:
        DeltaTable(root)
    print(f"    DeltaTable() at ~10k files: {t0.s * 1000:.0f} ms; after create_checkpoint() "
          f"{t1.s * 1000:.0f} ms")
print("OK")
