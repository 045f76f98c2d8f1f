"""Q1 (cost) - what one append commit of 2,000 rows costs, 48 in a row, by how it is called:
by URI (log re-read every time) versus reusing one DeltaTable (its snapshot is updated in
place), without the post-commit checkpoint hook, with explicit writer properties.

Run: .venv/bin/python spikes/local_commit_cost.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import date

from deltalake import (DeltaTable, PostCommitHookProperties, WriterProperties, __version__,
                       write_deltalake)

sys.path.insert(0, os.path.dirname(__file__))
from _local_common import PARTITIONS, batch  # noqa: E402

print("deltalake", __version__)
b = batch("r", "x", date(2026, 11, 30), 2_000)
no_hook = PostCommitHookProperties(create_checkpoint=False, cleanup_expired_logs=False)
cases = [
    ("by URI", {}, False),
    ("reusing one DeltaTable", {}, True),
    ("reusing, no checkpoint hook", {"post_commithook_properties": no_hook}, True),
    ("reusing, WriterProperties(compression='SNAPPY')",
     {"writer_properties": WriterProperties(compression="SNAPPY")}, True),
]
ms = {}
for label, kw, reuse in cases:
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "t")
        write_deltalake(root, b.slice(0, 0), partition_by=PARTITIONS)
        dt = DeltaTable(root)
        t = time.perf_counter()
        for _ in range(48):
            write_deltalake(dt if reuse else root, b, mode="append", **kw)
        ms[label] = (time.perf_counter() - t) / 48 * 1000
        assert DeltaTable(root).version() == 48 and dt.version() == (48 if reuse else 0)
        print(f"{label}: {ms[label]:.1f} ms/commit ({2_000 / ms[label] * 1000:,.0f} rows/s)")
assert ms["reusing one DeltaTable"] < ms["by URI"]
print("OK")
