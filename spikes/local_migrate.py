"""Q7 - migrating a lake of run files (platform=*/date=*/<run>.parquet, plus compacted-*.parquet
whose footers list the keys they supersede) into a Delta table, without losing or doubling a
row: convert_to_deltalake in place (naively, and after removing superseded originals) versus
rewriting the current files into a new table.

Run: .venv/bin/python spikes/local_migrate.py
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from datetime import UTC, date, datetime

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, Schema, __version__, convert_to_deltalake, write_deltalake

sys.path.insert(0, os.path.dirname(__file__))
from _local_common import DELTA_SCHEMA, PARTITIONS, Timer, batch  # noqa: E402

from followerledger.lake import SUPERSEDES  # noqa: E402
from followerledger.observation import OBSERVATION_SCHEMA  # noqa: E402

print("deltalake", __version__)
D1, D2 = date(2026, 11, 29), date(2026, 11, 30)


def old_rows(run: str, p: str, d: date, n: int, start: int = 0) -> pa.Table:
    """A run file as today's lake writes it: OBSERVATION_SCHEMA (platform inside, no date)."""
    return pa.Table.from_batches([batch(run, p, d, n, start)]).drop_columns(["date"]).cast(
        OBSERVATION_SCHEMA)


def build_old_lake(base: str) -> int:
    """2 platforms x 2 days x 3 runs; day D1 of platform x compacted (originals kept on disk,
    as in the 24 h grace period). Returns the rows the warehouse counts (current files)."""
    current = 0
    for p in ("x", "y"):
        for d in (D1, D2):
            part = os.path.join(base, "observations", f"platform={p}", f"date={d}")
            os.makedirs(part)
            tables = {}
            for r in range(3):
                t = old_rows(f"run{d.day}-{r}", p, d, 100, start=r * 100)
                tables[f"run{d.day}-{r}"] = t
                pq.write_table(t, os.path.join(part, f"run{d.day}-{r}.parquet"))
            if (p, d) == ("x", D1):
                keys = [f"observations/platform={p}/date={d}/{k}.parquet" for k in tables]
                merged = pa.concat_tables(tables.values()).replace_schema_metadata(
                    {SUPERSEDES: json.dumps(keys), "followerledger.compacted_at": "x"})
                pq.write_table(merged, os.path.join(part, "compacted-abc.parquet"))
            current += 300
    return current


def superseded(base: str) -> list[str]:
    """Keys a present compacted file's footer says it holds (what the catalog hides)."""
    out = []
    for d, _, names in os.walk(os.path.join(base, "observations")):
        for n in names:
            if n.startswith("compacted-"):
                meta = pq.read_schema(os.path.join(d, n)).metadata or {}
                out += json.loads(meta[SUPERSEDES.encode()])
    return out


def count(uri: str) -> int:
    return DeltaTable(uri).to_pyarrow_table().num_rows


PART_SCHEMA = Schema.from_arrow(pa.schema([("platform", pa.string()), ("date", pa.date32())]))

with tempfile.TemporaryDirectory() as tmp:
    # (a) in-place convert, partitioned as today (platform, date): today's files carry
    # `platform` inside them as well as in the path -> refused
    a = os.path.join(tmp, "a")
    want = build_old_lake(a)
    try:
        convert_to_deltalake(os.path.join(a, "observations"), partition_by=PART_SCHEMA,
                             partition_strategy="hive")
        outcome = "accepted"
    except Exception as e:  # noqa: BLE001
        outcome = f"refused: {type(e).__name__}: {str(e)[:90]}"
    print(f"(a) convert_to_deltalake(partition_by=platform,date, hive): {outcome}")
    assert outcome.startswith("refused") and not os.path.exists(
        os.path.join(a, "observations", "_delta_log", "00000000000000000000.json"))

    # (b) in place, partitioned by date only (platform stays a data column): superseded
    # originals still on disk are converted too -> doubled rows unless removed first
    date_only = Schema.from_arrow(pa.schema([("date", pa.date32())]))
    try:
        convert_to_deltalake(os.path.join(a, "observations"), partition_by=date_only,
                             partition_strategy="hive")
        n = count(os.path.join(a, "observations"))
        print(f"(b) convert_to_deltalake(partition_by=date) naive: {n} rows, warehouse {want} "
              f"-> {n - want} doubled (superseded originals)")
    except Exception as e:  # noqa: BLE001
        print(f"(b) convert_to_deltalake(partition_by=date): refused: {type(e).__name__}: "
              f"{str(e)[:120]}")
    b = os.path.join(tmp, "b")
    want = build_old_lake(b)
    gone = superseded(b)
    for key in gone:
        os.remove(os.path.join(b, key))
    try:
        with Timer() as tb:
            convert_to_deltalake(os.path.join(b, "observations"), partition_by=date_only,
                                 partition_strategy="hive")
        n = count(os.path.join(b, "observations"))
        print(f"    after dropping {len(gone)} superseded originals: {n} rows (want {want}) in "
              f"{tb.s * 1000:.0f} ms; but the table is not partitioned by platform "
              "(directory platform=x is just a path then)")
        assert n == want
    except Exception as e:  # noqa: BLE001
        print(f"    after dropping superseded originals: refused: {type(e).__name__}: "
              f"{str(e)[:120]}")

    # (c) rewrite: read the current files, write a new Delta table in one commit, then swap
    c = os.path.join(tmp, "c")
    want = build_old_lake(c)
    hidden = set(superseded(c))
    current = []
    for d, _, names in os.walk(os.path.join(c, "observations")):
        for name in names:
            key = os.path.relpath(os.path.join(d, name), c)
            if name.endswith(".parquet") and key not in hidden:
                day = date.fromisoformat(d.rsplit("date=", 1)[1])
                t = pq.read_table(os.path.join(d, name))
                current.append(t.append_column("date", pa.array([day] * t.num_rows,
                                                                pa.date32())))
    new = os.path.join(c, "observations.delta")
    with Timer() as tc:
        write_deltalake(new, pa.concat_tables(current).cast(DELTA_SCHEMA),
                        partition_by=PARTITIONS)
    os.rename(os.path.join(c, "observations"), os.path.join(c, "observations.old"))
    os.rename(new, os.path.join(c, "observations"))
    n = count(os.path.join(c, "observations"))
    dt = DeltaTable(os.path.join(c, "observations"))
    print(f"(c) rewrite the current files into a new table + swap: {n} rows (want {want}), "
          f"{len(dt.file_uris())} files (1 per platform and day), {tc.s * 1000:.0f} ms")
    assert n == want and len(dt.file_uris()) == 4
    shutil.rmtree(os.path.join(c, "observations.old"))
print("OK")
