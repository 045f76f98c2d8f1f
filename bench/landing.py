"""Landing: rows per second from parsed observations to committed Parquet.

Baselines measured in the same run on the same rows:
- a bare pyarrow landing of them (`pa.Table.from_pylist` of the rows, then `write_table`):
  what a script without our schema, atomic rename and fsync would do (target >= 0.5x);
- `write_table` alone of an already built table: the floor, for context.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from followerledger import snapshot
from followerledger.lake import Lake
from followerledger.observation import OBSERVATION_SCHEMA, Observation, to_table


def make_rows(count: int) -> list[Observation]:
    """Observations as a source's parser produces them."""
    at = datetime(2026, 11, 26, 12, tzinfo=UTC)
    return [
        Observation(
            run_id="bench",
            observed_at=at,
            platform="x",
            handle=f"account{i}",
            status="ok",
            source="emulator",
            account_id=str(10_000_000 + i),
            display_name=f"Account {i}",
            followers=1000 + i,
            following=10,
            posts=i,
            requested_handle=f"account{i}",
        )
        for i in range(count)
    ]


def best(repeat: int, action: Callable[[], object]) -> float:
    """The fastest of `repeat` timings of an action, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def run(quick: bool = False) -> dict[str, float]:
    """Print and return rows/s of the product's landing path and of its baselines."""
    count = 20_000 if quick else 500_000
    rows = make_rows(count)
    dicts = [dataclasses.asdict(row) for row in rows]
    with tempfile.TemporaryDirectory() as folder:
        lake = Lake(Path(folder) / "lake")
        product = best(
            3, lambda: snapshot.write_observations(lake, "x", "bench", rows[0].observed_at, rows)
        )
        bare = best(
            3,
            lambda: pq.write_table(
                pa.Table.from_pylist(dicts, schema=OBSERVATION_SCHEMA),
                Path(folder) / "bare.parquet",
            ),
        )
        table = to_table(rows)
        floor = best(3, lambda: pq.write_table(table, Path(folder) / "floor.parquet"))
    figures = {
        "rows": count,
        "product_rows_per_s": count / product,
        "bare_rows_per_s": count / bare,
        "write_only_rows_per_s": count / floor,
        "ratio_vs_bare": bare / product,
        "ratio_vs_write_only": floor / product,
    }
    print(
        f"landing {count:,} rows: product {figures['product_rows_per_s']:,.0f} rows/s; bare "
        f"pyarrow (from_pylist + write_table) {figures['bare_rows_per_s']:,.0f} rows/s -> "
        f"ratio {figures['ratio_vs_bare']:.2f}x (target >= 0.5x); write_table alone of a built "
        f"table {figures['write_only_rows_per_s']:,.0f} rows/s -> "
        f"{figures['ratio_vs_write_only']:.2f}x"
    )
    return figures
