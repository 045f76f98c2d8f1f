"""Q3 - concurrent appends from 8 processes to one local Delta table: all committed?
conflicts? retries (CommitProperties(max_commit_retries=...))?

Run: .venv/bin/python spikes/local_concurrent.py
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import tempfile
import time
from datetime import date

sys.path.insert(0, os.path.dirname(__file__))
from _local_common import PARTITIONS, batch  # noqa: E402

WRITERS, APPENDS = 8, 5


def writer(root: str, n: int, start, retries: int | None) -> tuple[int, int, str]:
    from deltalake import CommitProperties, DeltaTable, write_deltalake

    start.wait()
    failures, detail = 0, ""
    for k in range(APPENDS):
        props = CommitProperties(max_commit_retries=retries) if retries is not None else None
        try:
            write_deltalake(root, batch(f"w{n}-{k}", "xyz"[n % 3], date(2026, 11, 30), 2_000),
                            mode="append", commit_properties=props)
        except Exception as e:  # noqa: BLE001
            failures, detail = failures + 1, f"{type(e).__name__}: {str(e)[:100]}"
    retried = sum(h.get("operationMetrics", {}).get("num_retries", 0) or 0
                  for h in DeltaTable(root).history() if h.get("operation") == "WRITE")
    return failures, retried, detail


def run(retries: int | None) -> None:
    from deltalake import DeltaTable, write_deltalake

    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "t")
        write_deltalake(root, batch("seed", "x", date(2026, 11, 30), 1), partition_by=PARTITIONS)
        ctx = mp.get_context("spawn")
        start = ctx.Manager().Event()
        with ctx.Pool(WRITERS) as pool:
            pending = [pool.apply_async(writer, (root, n, start, retries)) for n in range(WRITERS)]
            time.sleep(1.5)  # let the interpreters import deltalake
            t0 = time.perf_counter()
            start.set()
            results = [p.get(120) for p in pending]
            took = time.perf_counter() - t0
        dt = DeltaTable(root)
        rows = dt.to_pyarrow_table().num_rows
        hist = [h for h in dt.history() if h.get("operation") == "WRITE"]
        retried = sum(h.get("operationMetrics", {}).get("num_retries", 0) or 0 for h in hist)
        failed = sum(r[0] for r in results)
        print(f"max_commit_retries={retries}: {WRITERS} processes x {APPENDS} appends in "
              f"{took:.2f}s -> version {dt.version()}, rows {rows} "
              f"(expected {1 + (WRITERS * APPENDS - failed) * 2_000}), failed commits {failed}, "
              f"retries recorded in the log's operationMetrics.num_retries: {retried}")
        for r in results:
            if r[2]:
                print("   failure:", r[2])
        assert rows == 1 + (WRITERS * APPENDS - failed) * 2_000
        assert dt.version() == WRITERS * APPENDS - failed
        if retries is None:
            assert failed == 0, "appends conflicted with the default retries"


if __name__ == "__main__":
    import deltalake

    print("deltalake", deltalake.__version__)
    run(None)  # the default (15 retries in delta-rs)
    run(0)     # no retry: what a lost race looks like
    print("OK")
