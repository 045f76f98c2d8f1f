"""Q2 - a re-run of a run id replaces exactly its rows: overwrite-by-predicate (one commit)
versus delete + append (two commits); what a predicate that does not cover the rows does.

Run: .venv/bin/python spikes/local_rerun.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, __version__, write_deltalake

sys.path.insert(0, os.path.dirname(__file__))
from _local_common import DELTA_SCHEMA, PARTITIONS, Timer, batch  # noqa: E402

print("deltalake", __version__)
DAY = date(2026, 11, 30)


def count(dt: DeltaTable, run_id: str) -> int:
    t = dt.to_pyarrow_table(columns=["run_id"])
    return pc.sum(pc.equal(t["run_id"], run_id)).as_py() or 0


with tempfile.TemporaryDirectory() as tmp:
    root = os.path.join(tmp, "t")
    for i in range(20):  # 20 runs, 2 platforms each
        for p in ("x", "y"):
            write_deltalake(root, batch(f"run{i:02d}", p, DAY, 2_000), partition_by=PARTITIONS,
                            mode="append")
    dt = DeltaTable(root)
    v0, total = dt.version(), dt.to_pyarrow_table().num_rows

    # --- 2a. overwrite with a predicate: one commit (remove + add actions together) ---------
    new = batch("run07", "x", DAY, 1_500, start=10_000)
    with Timer() as t:
        write_deltalake(root, new, mode="overwrite",
                        predicate="run_id = 'run07' AND platform = 'x' AND date = '2026-11-30'")
    dt = DeltaTable(root)
    h = dt.history(1)[0]
    print(f"2a: overwrite(predicate run_id+platform+date): {t.s * 1000:.1f} ms, versions "
          f"{v0}->{dt.version()}, operation {h['operation']!r}, metrics "
          f"{ {k: v for k, v in h.get('operationMetrics', {}).items() if 'num' in k} }")
    assert dt.version() == v0 + 1
    assert count(dt, "run07") == 2_000 + 1_500  # run07's 'y' rows untouched, 'x' replaced
    assert dt.to_pyarrow_table().num_rows == total - 2_000 + 1_500

    # predicate only on run_id (the platform's other rows would be deleted too!)
    with Timer() as t:
        write_deltalake(root, batch("run08", "x", DAY, 100), mode="overwrite",
                        predicate="run_id = 'run08'")
    dt = DeltaTable(root)
    print(f"    overwrite(predicate run_id only) with rows of one platform: {t.s * 1000:.1f} ms; "
          f"run08 now {count(dt, 'run08')} rows (its other platform's rows are gone: scope the "
          "predicate to the platform)")
    assert count(dt, "run08") == 100

    # rows that do not match the predicate are refused (whole commit fails, nothing changes)
    v = dt.version()
    try:
        write_deltalake(root, batch("run99", "x", DAY, 10), mode="overwrite",
                        predicate="run_id = 'run09' AND platform = 'x'")
        outcome = "accepted"
    except Exception as e:  # noqa: BLE001
        outcome = f"refused: {type(e).__name__}: {str(e)[:110]}"
    print(f"    overwrite with rows outside the predicate: {outcome}")
    assert DeltaTable(root).version() == v

    # a re-run of a run id that never landed: predicate matches nothing -> pure add, one commit
    with Timer() as t:
        write_deltalake(root, batch("run50", "x", DAY, 2_000), mode="overwrite",
                        predicate="run_id = 'run50' AND platform = 'x'")
    dt = DeltaTable(root)
    print(f"    overwrite of a new run id: {t.s * 1000:.1f} ms, 1 version, rows {count(dt, 'run50')}")
    assert dt.version() == v + 1 and count(dt, "run50") == 2_000

    # streaming (RecordBatchReader) into an overwrite-by-predicate: works too?
    v = dt.version()
    reader = pa.RecordBatchReader.from_batches(
        DELTA_SCHEMA, (batch("run50", "x", DAY, 500, start=i * 500) for i in range(4)))
    write_deltalake(root, reader, mode="overwrite", predicate="run_id = 'run50' AND platform = 'x'")
    dt = DeltaTable(root)
    print(f"    overwrite-by-predicate from a RecordBatchReader: version +{dt.version() - v}, "
          f"run50 rows {count(dt, 'run50')}")
    assert dt.version() == v + 1 and count(dt, "run50") == 2_000

    # --- 2b. delete + append: two commits; a reader between them sees the run missing -----
    v = dt.version()
    with Timer() as t:
        m = dt.delete("run_id = 'run10' AND platform = 'x'")
        mid = DeltaTable(root)
        between = count(mid, "run10")
        write_deltalake(root, batch("run10", "x", DAY, 2_000), mode="append")
    dt = DeltaTable(root)
    print(f"2b: delete+append: {t.s * 1000:.1f} ms, versions +{dt.version() - v}; a reader in "
          f"between saw run10 with {between} rows (its x rows missing); delete metrics "
          f"{ {k: m[k] for k in ('num_removed_files', 'num_added_files', 'num_deleted_rows') if k in m} }")
    assert dt.version() == v + 2 and between == 2_000 and count(dt, "run10") == 4_000
print("OK")
