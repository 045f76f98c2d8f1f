"""Q4 - the catalog's exact-file views from the Delta log: file list with partition values,
are partition columns inside the files, a DuckDB view over read_parquet([...]) offline.

Run: .venv/bin/python spikes/local_catalog.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import date

import duckdb
import pyarrow.parquet as pq
from deltalake import DeltaTable, __version__, write_deltalake

sys.path.insert(0, os.path.dirname(__file__))
from _local_common import PARTITIONS, Timer, batch  # noqa: E402

print("deltalake", __version__, "duckdb", duckdb.__version__)

with tempfile.TemporaryDirectory() as tmp:
    root = os.path.join(tmp, "observations")
    for d in (date(2026, 11, 29), date(2026, 11, 30)):
        for p in ("x", "y"):
            write_deltalake(root, batch(f"r{d.day}", p, d, 1_000), partition_by=PARTITIONS,
                            mode="append")
    dt = DeltaTable(root)
    uris = dt.file_uris()
    print("file_uris()[0]:", uris[0])
    adds = dt.get_add_actions(flatten=True)
    adds_t = adds.read_all() if hasattr(adds, "read_all") else adds
    import pyarrow as pa
    adds_t = pa.table(adds_t)
    print("get_add_actions(flatten=True) columns:", adds_t.column_names)
    row = adds_t.slice(0, 1).to_pylist()[0]
    print("   first:", {k: row[k] for k in ("path", "size_bytes", "num_records",
                                             "partition.platform", "partition.date")})
    print("   partition.date type:", adds_t.schema.field("partition.date").type)

    # are partition columns written into the data files?
    f = uris[0].removeprefix("file://")
    names = pq.read_schema(f).names
    print("columns inside a data file:", names)
    assert "platform" not in names and "date" not in names
    print("=> delta-rs does NOT store partition columns in the files (Hive-style path only)")

    # DuckDB view over the exact files, partition columns added from the log, offline
    con = duckdb.connect()
    assert "delta" not in {r[0] for r in con.sql(
        "select extension_name from duckdb_extensions() where loaded").fetchall()}
    parts = []
    for r in adds_t.to_pylist():
        path = os.path.join(root, r["path"]).replace("'", "''")
        parts.append(
            f"select *, '{r['partition.platform']}'::varchar as platform, "
            f"DATE '{r['partition.date']}' as date from read_parquet('{path}', hive_partitioning=false)")
    view_union = " union all by name ".join(parts)
    con.sql(f"create view obs_union as {view_union}")
    # alternative: one read_parquet over the list, hive_partitioning from the path names
    paths = ", ".join(f"'{u.removeprefix('file://')}'" for u in uris)
    con.sql(f"create view obs_hive as select * from read_parquet([{paths}], "
            "hive_partitioning=true, hive_types={'date': date, 'platform': varchar}, "
            "union_by_name=true)")
    for v in ("obs_union", "obs_hive"):
        n, dates, plats = con.sql(
            f"select count(*), count(distinct date), count(distinct platform) from {v}").fetchall()[0]
        print(f"{v}: rows {n}, dates {dates}, platforms {plats}; types "
              f"{con.sql(f'select typeof(date), typeof(platform) from {v} limit 1').fetchall()[0]}")
        assert (n, dates, plats) == (4_000, 2, 2)
    assert con.sql("select * exclude (date, platform) from obs_union except "
                   "select * exclude (date, platform) from obs_hive").fetchall() == []

    # cost of building the list at ~10k files (one commit creating 10,000 partition files)
    big = os.path.join(tmp, "big")
    import pyarrow.compute as pc
    b = pa.Table.from_batches([batch("r", "x", date(2000, 1, 1), 10_000)])
    days = pa.array([date.fromordinal(date(2000, 1, 1).toordinal() + i // 5)
                     for i in range(10_000)], pa.date32())
    plats = pa.array(["abcde"[i % 5] for i in range(10_000)])
    b = b.set_column(b.schema.get_field_index("date"), "date", days)
    b = b.set_column(b.schema.get_field_index("platform"), "platform", plats)
    with Timer() as tw:
        write_deltalake(big, b, partition_by=PARTITIONS)
    with Timer() as to:
        bdt = DeltaTable(big)
    with Timer() as tf:
        n_files = len(bdt.file_uris())
    with Timer() as ta:
        pa.table(bdt.get_add_actions(flatten=True))
    print(f"10,000 files: write {tw.s:.2f}s; DeltaTable() {to.s * 1000:.0f} ms; file_uris() "
          f"{tf.s * 1000:.0f} ms; get_add_actions(flatten=True) {ta.s * 1000:.0f} ms")
    assert n_files == 10_000
print("OK")
