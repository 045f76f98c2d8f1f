"""Q5: the same write, 48 appends x 2,000 rows, on moto S3 (127.0.0.1) versus local disk.

One process, sequential appends partitioned by platform and date (4 platforms x 12 runs,
one day), then a DeltaTable open + full read, optimize.compact() and a vacuum dry run.
Prints per-commit median/p90 and totals for both; asserts the row counts.

Run: .venv/bin/python spikes/s3_cost.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

import deltalake
from deltalake import DeltaTable, write_deltalake
from s3_common import aws_environment, environment, moto_server, new_bucket, observations

APPENDS, ROWS = 48, 2000
PLATFORMS = ("x", "bluesky", "mastodon", "youtube")


def measure(uri: str) -> dict:
    tables = [observations(f"run{n}", ROWS, PLATFORMS[n % 4], "2026-12-01") for n in range(APPENDS)]
    commits = []
    t_all = time.perf_counter()
    for table in tables:
        t0 = time.perf_counter()
        write_deltalake(uri, table, mode="append", partition_by=["platform", "date"])
        commits.append(time.perf_counter() - t0)
    total = time.perf_counter() - t_all
    t0 = time.perf_counter()
    dt = DeltaTable(uri)
    rows = dt.to_pyarrow_table().num_rows
    read = time.perf_counter() - t0
    assert rows == APPENDS * ROWS and dt.version() == APPENDS - 1
    t0 = time.perf_counter()
    metrics = dt.optimize.compact()
    compact = time.perf_counter() - t0
    dt = DeltaTable(uri)
    assert dt.to_pyarrow_table().num_rows == APPENDS * ROWS
    t0 = time.perf_counter()
    dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=True)
    vacuum = time.perf_counter() - t0
    return {
        "commit_ms_median": round(statistics.median(commits) * 1000, 1),
        "commit_ms_p90": round(sorted(commits)[int(len(commits) * 0.9)] * 1000, 1),
        "first_commit_ms": round(commits[0] * 1000, 1),
        "total_s": round(total, 2),
        "open_and_read_s": round(read, 3),
        "compact_s": round(compact, 3),
        "files": f"{metrics['numFilesRemoved']} -> {metrics['numFilesAdded']}",
        "vacuum_dry_run_s": round(vacuum, 3),
    }


def main() -> None:
    print("deltalake", deltalake.__version__, f"{APPENDS} appends x {ROWS} rows")
    tmp = tempfile.mkdtemp(prefix="s3-cost-")
    try:
        local = measure(os.path.join(tmp, "observations"))
        print("local:", local)
        with moto_server() as endpoint, environment(aws_environment(endpoint)):
            s3 = measure(f"s3://{new_bucket(endpoint)}/prefix/observations")
        print("moto S3:", s3)
        print(
            f"ratio S3/local: commit median {s3['commit_ms_median'] / local['commit_ms_median']:.1f}x, "
            f"total {s3['total_s'] / local['total_s']:.1f}x"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("OK")


if __name__ == "__main__":
    main()
