"""Landing: rows per second from parsed observations to committed Parquet.

Baselines measured in the same run on the same rows:
- a bare pyarrow landing of them (`pa.Table.from_pylist` of the rows, then `write_table`):
  what a script without our schema, atomic rename and fsync would do (target >= 0.5x);
- `write_table` alone of an already built table: the floor, for context;
- dlt loading the same rows into DuckDB (target: we are >= 4x faster), both as dlt is
  usually fed (the rows as dicts) and with its fastest input (an Arrow table). dlt is a
  benchmark-only dependency (the `bench` dependency group), never a runtime one.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from followerledger import landing
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
            3, lambda: landing.write_observations(lake, "x", "bench", rows[0].observed_at, rows)
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
    dlt_dicts, dlt_arrow = _dlt_rows_per_second(rows, dicts, 2_000 if quick else 20_000)
    figures = {
        "rows": count,
        "product_rows_per_s": count / product,
        "bare_rows_per_s": count / bare,
        "write_only_rows_per_s": count / floor,
        "ratio_vs_bare": bare / product,
        "ratio_vs_write_only": floor / product,
        "dlt_dicts_rows_per_s": dlt_dicts,
        "dlt_arrow_rows_per_s": dlt_arrow,
        "speedup_vs_dlt_dicts": count / product / dlt_dicts,
        "speedup_vs_dlt_arrow": count / product / dlt_arrow,
    }
    print(
        f"landing {count:,} rows: product {figures['product_rows_per_s']:,.0f} rows/s; bare "
        f"pyarrow (from_pylist + write_table) {figures['bare_rows_per_s']:,.0f} rows/s -> "
        f"ratio {figures['ratio_vs_bare']:.2f}x (target >= 0.5x); write_table alone of a built "
        f"table {figures['write_only_rows_per_s']:,.0f} rows/s -> "
        f"{figures['ratio_vs_write_only']:.2f}x"
    )
    print(
        f"landing vs dlt into DuckDB: dlt from dicts {dlt_dicts:,.0f} rows/s -> we are "
        f"{figures['speedup_vs_dlt_dicts']:.0f}x faster (target >= 4x); dlt from an Arrow "
        f"table {dlt_arrow:,.0f} rows/s -> {figures['speedup_vs_dlt_arrow']:.1f}x"
    )
    return figures


def _dlt_rows_per_second(
    rows: list[Observation], dicts: list[dict[str, object]], dict_count: int
) -> tuple[float, float]:
    """dlt's rows/s loading into DuckDB: from dicts (the first `dict_count` rows: dlt manages
    a few thousand rows a second that way) and from an Arrow table (all rows)."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt

    table = to_table(rows)
    with tempfile.TemporaryDirectory() as folder:
        pipeline = dlt.pipeline(
            pipeline_name="bench_landing",
            destination=dlt.destinations.duckdb(str(Path(folder) / "dlt.duckdb")),
            dataset_name="bench",
            pipelines_dir=str(Path(folder) / "pipelines"),
        )
        from_dicts = best(1, lambda: pipeline.run(dicts[:dict_count], table_name="from_dicts"))
        from_arrow = best(1, lambda: pipeline.run(table, table_name="from_arrow"))
    return dict_count / from_dicts, len(rows) / from_arrow
