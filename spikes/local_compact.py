"""Q6 - compaction and retention: optimize.compact per closed day -> 1 file per platform and
day; vacuum with a retention; a reader holding the old file list through compact+vacuum;
time travel by version and by datetime, in deltalake and Polars.

Run: .venv/bin/python spikes/local_compact.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pyarrow as pa
from deltalake import DeltaTable, __version__, write_deltalake

sys.path.insert(0, os.path.dirname(__file__))
from _local_common import PARTITIONS, Timer, batch  # noqa: E402

print("deltalake", __version__, "polars", pl.__version__)
D1, D2 = date(2026, 11, 29), date(2026, 11, 30)


def per_partition(dt: DeltaTable) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for r in pa.table(dt.get_add_actions(flatten=True)).to_pylist():
        k = (r["partition.platform"], str(r["partition.date"]))
        out[k] = out.get(k, 0) + 1
    return out


with tempfile.TemporaryDirectory() as tmp:
    root = os.path.join(tmp, "t")
    for d in (D1, D2):
        for i in range(24):
            for p in ("x", "y"):
                write_deltalake(root, batch(f"r{d.day}-{i}", p, d, 2_000, start=i * 2_000),
                                partition_by=PARTITIONS, mode="append")
    dt = DeltaTable(root)
    before_v, before_n = dt.version(), dt.to_pyarrow_table().num_rows
    stamp_before = datetime.now(UTC)
    time.sleep(0.05)
    print("before:", per_partition(dt))

    # a reader that holds the old exact file list (as the catalog's views do)
    old_files = dt.file_uris()
    con = duckdb.connect()
    listed = ", ".join(f"'{u}'" for u in old_files)
    con.sql(f"create view held as select * from read_parquet([{listed}], hive_partitioning=false)")

    with Timer() as tc:
        metrics = dt.optimize.compact(partition_filters=[("date", "=", D1.isoformat())])
    dt = DeltaTable(root)
    print(f"compact(partition_filters=[('date','=','{D1}')]) {tc.s * 1000:.0f} ms: "
          f"{ {k: metrics[k] for k in ('numFilesAdded', 'numFilesRemoved') if k in metrics} }, "
          f"version {before_v} -> {dt.version()}; after: {per_partition(dt)}")
    assert per_partition(dt)[("x", str(D1))] == 1 and per_partition(dt)[("y", str(D1))] == 1
    assert per_partition(dt)[("x", str(D2))] == 24
    assert dt.to_pyarrow_table().num_rows == before_n
    assert dt.history(1)[0]["operation"] == "OPTIMIZE"

    # the compaction commit's actions say dataChange=false: a refresh can tell "same rows"
    import json
    with open(os.path.join(root, "_delta_log", f"{dt.version():020d}.json")) as f:
        actions = [json.loads(line) for line in f]
    flags = {a[k]["dataChange"] for a in actions for k in ("add", "remove") if k in a}
    print(f"compaction commit: {sum('add' in a for a in actions)} add, "
          f"{sum('remove' in a for a in actions)} remove actions, dataChange {flags}")
    assert flags == {False}

    # compaction again: nothing to do, no new version?
    again = dt.optimize.compact(partition_filters=[("date", "=", D1.isoformat())])
    print(f"compact again: files added {again.get('numFilesAdded')}, version "
          f"{DeltaTable(root).version()}")

    # vacuum within the retention: the held reader still reads
    kept = dt.vacuum(retention_hours=24, dry_run=False, enforce_retention_duration=False)
    assert kept == []
    assert con.sql("select count(*) from held").fetchall()[0][0] == before_n
    print("vacuum(retention_hours=24) removed 0 files; the held file list still reads all rows")

    # time travel before vacuuming the old files away
    old = DeltaTable(root, version=before_v)
    by_time = DeltaTable(root)
    by_time.load_as_version(stamp_before)
    print(f"DeltaTable(root, version={before_v}): {len(old.file_uris())} files; "
          f"load_as_version(datetime) -> version {by_time.version()}")
    assert old.to_pyarrow_table().num_rows == before_n and by_time.version() == before_v
    pl_old = pl.scan_delta(root, version=before_v).select(pl.len()).collect().item()
    pl_new = pl.scan_delta(root).select(pl.len()).collect().item()
    pl_ts = pl.scan_delta(root, version=stamp_before).select(pl.len()).collect().item()
    print(f"polars scan_delta(version={before_v}) {pl_old} rows, (version=datetime) {pl_ts}, "
          f"current {pl_new}")
    assert pl_old == pl_new == pl_ts == before_n

    # vacuum past the retention: the compacted-away files go; the held list now breaks
    gone = dt.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False)
    print(f"vacuum(retention_hours=0, enforce_retention_duration=False): removed {len(gone)}")
    assert len(gone) == 48
    try:
        con.sql("select count(*) from held").fetchall()
        print("held reader after vacuum: still reads (?)")
    except Exception as e:  # noqa: BLE001
        print(f"held reader after vacuum: fails ({type(e).__name__})")
    try:
        DeltaTable(root, version=before_v).to_pyarrow_table()
        print("time travel to before compaction after vacuum: works (?)")
    except Exception as e:  # noqa: BLE001
        print(f"time travel to before compaction after vacuum: fails ({type(e).__name__}: "
              f"{str(e)[:80]})")
    assert pl.scan_delta(root).select(pl.len()).collect().item() == before_n
print("OK")
