"""Q1 (design) - a Landing shape: write_deltalake runs on a thread, fed by a generator that
pulls batches from a bounded queue; add() puts, commit() ends the stream, abort() makes the
generator raise. Does commit land exactly once, does abort commit nothing, what is left on
disk, and is memory flat as rows grow (1M vs 3M rows)?

Run: .venv/bin/python spikes/local_queue_landing.py
"""

from __future__ import annotations

import os
import queue
import sys
import tempfile
import threading
from datetime import date

import pyarrow as pa
from deltalake import DeltaTable, __version__, write_deltalake

sys.path.insert(0, os.path.dirname(__file__))
from _local_common import (DELTA_SCHEMA, PARTITIONS, Timer, batch, data_files,  # noqa: E402
                           referenced, rss_mb)

print("deltalake", __version__)
_END = object()


class Aborted(Exception):
    pass


class QueueLanding:
    def __init__(self, table: str, predicate: str, target_file_size: int | None = None):
        self.q: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.peak = 0.0

        def gen():
            while True:
                item = self.q.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                self.peak = max(self.peak, rss_mb())
                yield item

        def run():
            try:
                write_deltalake(table, pa.RecordBatchReader.from_batches(DELTA_SCHEMA, gen()),
                                mode="overwrite", predicate=predicate,
                                target_file_size=target_file_size)
            except BaseException as e:  # noqa: BLE001
                self.error = e

        self.thread = threading.Thread(target=run)
        self.thread.start()

    def add(self, b: pa.RecordBatch) -> None:
        self.q.put(b)

    def commit(self) -> None:
        self.q.put(_END)
        self.thread.join()
        if self.error:
            raise self.error

    def abort(self) -> None:
        self.q.put(Aborted("run given up"))
        self.thread.join()


DAY = date(2026, 11, 30)
with tempfile.TemporaryDirectory() as tmp:
    root = os.path.join(tmp, "t")
    write_deltalake(root, batch("seed", "x", DAY, 1), partition_by=PARTITIONS)

    for n_batches in (200, 600):
        rss0 = rss_mb()
        run = f"run{n_batches}"
        land = QueueLanding(root, f"run_id = '{run}' AND platform = 'x'")
        with Timer() as t:
            for i in range(n_batches):
                land.add(batch(run, "x", DAY, 5_000, start=i * 5_000))
            land.commit()
        dt = DeltaTable(root)
        n = dt.to_pyarrow_table(columns=["run_id"]).num_rows
        print(f"{n_batches * 5_000:,} rows via queue-fed generator: {t.s:.2f}s, one commit -> "
              f"v{dt.version()}, rss {rss0:.0f} -> peak {land.peak:.0f} MB "
              f"(+{land.peak - rss0:.0f})")
        assert n == 1 + sum(k * 5_000 for k in (200, 600) if k <= n_batches)

    # the same 3M rows with target_file_size=8 MB: files roll over as the stream goes
    rss0 = rss_mb()
    land = QueueLanding(root, "run_id = 'rolled' AND platform = 'y'", target_file_size=8 << 20)
    for i in range(600):
        land.add(batch("rolled", "y", DAY, 5_000, start=i * 5_000))
    land.commit()
    dt = DeltaTable(root)
    rolled = [f for f in referenced(dt) if f.startswith("platform=y")]
    print(f"3,000,000 rows, target_file_size=8 MiB: {len(rolled)} files, rss {rss0:.0f} -> "
          f"peak {land.peak:.0f} MB (+{land.peak - rss0:.0f})")

    # abort mid-stream: nothing committed; what is left on disk
    v, before = dt.version(), data_files(root)
    land = QueueLanding(root, "run_id = 'gone' AND platform = 'x'", target_file_size=1 << 20)
    for i in range(100):
        land.add(batch("gone", "x", DAY, 5_000, start=i * 5_000))
    land.abort()
    dt = DeltaTable(root)
    left = data_files(root) - before
    print(f"abort: error {type(land.error).__name__ if land.error else None}, version "
          f"{v} -> {dt.version()}, files left on disk unreferenced: {len(left)}")
    assert dt.version() == v and land.error is not None
    removed = dt.vacuum(retention_hours=0, enforce_retention_duration=False, full=True,
                        dry_run=False)
    assert set(removed) == left and data_files(root) == referenced(dt)
    print(f"    vacuum(full=True, retention_hours=0) removed them: {len(removed)}")
print("OK")
