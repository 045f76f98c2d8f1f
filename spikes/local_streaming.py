"""Q1 - streaming landing into a Delta table: one commit from a generator of batches,
visibility before the commit, memory, a SIGKILL mid-write and vacuum, cost per commit.

Run: .venv/bin/python spikes/local_streaming.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, date, datetime

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, __version__, write_deltalake

sys.path.insert(0, os.path.dirname(__file__))
from _local_common import DELTA_SCHEMA, PARTITIONS, Timer, batch, data_files, referenced, rss_mb  # noqa: E402

print("deltalake", __version__, "polars", pl.__version__, "pyarrow", pa.__version__)
DAY = date(2026, 11, 30)

with tempfile.TemporaryDirectory() as tmp:
    root = os.path.join(tmp, "observations")
    write_deltalake(root, batch("seed", "x", DAY, 10), partition_by=PARTITIONS)
    seen = []

    # --- 1a. one commit from a generator; check visibility at every batch ---------------
    # The generator runs on a delta-rs (tokio) worker thread: calling deltalake from inside it
    # panics ("Cannot start a runtime from within a runtime"), so checks run on another thread.
    import queue
    import threading

    asks: queue.Queue = queue.Queue()
    answers: queue.Queue = queue.Queue()

    def checker():
        while (item := asks.get()) is not None:
            dt = DeltaTable(root)
            on_disk = data_files(root)
            answers.put((
                item,
                dt.version(),
                dt.to_pyarrow_table().num_rows,
                pl.scan_delta(root).select(pl.len()).collect().item(),
                len(on_disk - referenced(dt)),
                round(rss_mb()),
            ))

    threading.Thread(target=checker, daemon=True).start()

    def gen(n_batches: int, rows: int):
        for i in range(n_batches):
            if i % 20 == 0 or i == n_batches - 1:
                asks.put(i)
                seen.append(answers.get())
            yield batch("run-big", "x" if i % 2 else "y", DAY, rows, start=i * rows)

    n_batches, rows = 200, 5_000
    rss0 = rss_mb()
    with Timer() as t:
        write_deltalake(
            root,
            pa.RecordBatchReader.from_batches(DELTA_SCHEMA, gen(n_batches, rows)),
            mode="append",
        )
    dt = DeltaTable(root)
    print(f"1a: {n_batches}x{rows} rows from a generator in one commit: {t.s:.2f}s, "
          f"rss before {rss0:.0f} MB, after {rss_mb():.0f} MB")
    print("    (batch, version, pyarrow rows, polars rows, unreferenced files on disk, rss MB):")
    for s in seen:
        print("   ", s)
    assert dt.version() == 1, dt.version()
    assert all(s[1] == 0 and s[2] == 10 and s[3] == 10 for s in seen), "visible before commit!"
    assert dt.to_pyarrow_table().num_rows == 10 + n_batches * rows
    print("    files of the table:", len(referenced(dt)), "->", sorted(referenced(dt))[:3])
    peak_rss = max(s[5] for s in seen)

    # --- 1b. SIGKILL mid-write: what stays, and vacuum ------------------------------------
    child = textwrap.dedent(f"""
        import sys, time, pyarrow as pa
        sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
        from datetime import date
        from deltalake import write_deltalake
        from _local_common import DELTA_SCHEMA, batch
        def gen():
            for i in range(10_000):
                if i == 60:
                    print("ready", flush=True)
                if i >= 60:
                    time.sleep(0.05)
                yield batch("run-killed", "xyz"[i % 3], date(2026, 11, 30), 5_000, i * 5_000)
        write_deltalake({root!r}, pa.RecordBatchReader.from_batches(DELTA_SCHEMA, gen()),
                        mode="append", target_file_size=1_000_000)
    """)
    before = data_files(root)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    dt = DeltaTable(root)
    orphans = data_files(root) - before
    print(f"1b: SIGKILL mid-write: version still {dt.version()}, rows "
          f"{dt.to_pyarrow_table().num_rows}, unreferenced files left: {len(orphans)}")
    assert dt.version() == 1 and dt.to_pyarrow_table().num_rows == 10 + n_batches * rows
    default = dt.vacuum(dry_run=True)  # default retention 168 h, enforced
    print(f"    vacuum(dry_run=True) with default retention (7 days): {len(default)} files")
    try:
        dt.vacuum(retention_hours=0, dry_run=True)
        print("    vacuum(retention_hours=0) accepted with enforcement")
    except Exception as e:  # noqa: BLE001
        print(f"    vacuum(retention_hours=0) refused: {type(e).__name__}: {str(e)[:120]}")
    lite = dt.vacuum(retention_hours=0, dry_run=True, enforce_retention_duration=False)
    print(f"    vacuum(retention_hours=0, enforce_retention_duration=False) (lite, the default: "
          f"only files the log removed) would remove {len(lite)} files")
    assert not lite
    young = dt.vacuum(retention_hours=1, dry_run=True, enforce_retention_duration=False,
                      full=True)
    print(f"    vacuum(full=True, retention_hours=1): {len(young)} (orphans younger than it kept)")
    assert not young
    removed = dt.vacuum(retention_hours=0, dry_run=False, enforce_retention_duration=False,
                        full=True)
    print(f"    vacuum(retention_hours=0, enforce_retention_duration=False, full=True, "
          f"dry_run=False) removed {len(removed)} files")
    assert set(removed) == orphans or not orphans, (set(removed) ^ orphans)
    assert data_files(root) == before
    assert DeltaTable(root).to_pyarrow_table().num_rows == 10 + n_batches * rows

    # --- 1c. 48 appends of 2,000 rows: Delta vs today's Landing vs bare write_table -------
    from followerledger.lake import Lake
    from followerledger.landing import Landing
    from followerledger.observation import OBSERVATION_SCHEMA, Observation

    b = batch("r", "x", DAY, 2_000)
    d_root = os.path.join(tmp, "bench")
    write_deltalake(d_root, b.slice(0, 0), partition_by=PARTITIONS)
    with Timer() as td:
        for i in range(48):
            write_deltalake(d_root, b, mode="append")
    assert DeltaTable(d_root).version() == 48

    obs_table = pa.Table.from_batches([b]).drop_columns(["date"]).cast(OBSERVATION_SCHEMA)
    rows_py = [Observation(**r) for r in obs_table.to_pylist()]
    lake = Lake(os.path.join(tmp, "lake"))
    started = datetime(2026, 11, 30, 1, tzinfo=UTC)
    with Timer() as tl:
        for i in range(48):
            land = Landing(lake, "x", f"run{i}", started)
            land.add(rows_py)
            land.commit()
    # Landing includes Observation->Arrow conversion; time it alone to compare like for like.
    from followerledger.observation import to_table
    with Timer() as tc:
        for i in range(48):
            to_table(rows_py)
    with Timer() as tp:
        for i in range(48):
            pq.write_table(obs_table, os.path.join(tmp, f"bare{i}.parquet"))
    total = 48 * 2_000
    print(f"1c: 48 appends x 2,000 rows: delta {td.s / 48 * 1000:.1f} ms/commit "
          f"({total / td.s:,.0f} rows/s); Landing {tl.s / 48 * 1000:.1f} ms/commit "
          f"({total / tl.s:,.0f} rows/s, of which to_table {tc.s / 48 * 1000:.1f} ms); "
          f"bare pq.write_table {tp.s / 48 * 1000:.1f} ms ({total / tp.s:,.0f} rows/s)")
    print(f"    Landing minus conversion: {(tl.s - tc.s) / 48 * 1000:.1f} ms/commit; "
          f"delta / that = {td.s / (tl.s - tc.s):.2f}x")
    print(f"PEAK rss during the 1,000,000-row generator write: {peak_rss} MB")
print("OK")
