"""Landing: rows per second from parsed observations to committed Parquet, versus bare pyarrow."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from followerledger import snapshot
from followerledger.lake import Lake
from followerledger.observation import Observation, to_table


def _rows(count: int) -> list[Observation]:
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


def _best(repeat: int, action: object) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def run(quick: bool = False) -> dict[str, float]:
    """Print and return rows/s for the product's landing path and for a bare write_table."""
    count = 20_000 if quick else 500_000
    rows = _rows(count)
    with tempfile.TemporaryDirectory() as folder:
        lake = Lake(Path(folder) / "lake")
        product = _best(
            3, lambda: snapshot.write_observations(lake, "x", "bench", rows[0].observed_at, rows)
        )
        table = to_table(rows)
        bare = _best(3, lambda: pq.write_table(table, Path(folder) / "bare.parquet"))
    figures = {
        "rows": count,
        "product_rows_per_s": count / product,
        "pyarrow_rows_per_s": count / bare,
        "ratio": bare / product,
    }
    print(
        f"landing: {count:,} rows: product {figures['product_rows_per_s']:,.0f} rows/s, "
        f"bare pyarrow write_table {figures['pyarrow_rows_per_s']:,.0f} rows/s, "
        f"ratio {figures['ratio']:.2f}x (target >= 0.5x)"
    )
    return figures
