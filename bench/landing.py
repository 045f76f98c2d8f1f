"""Landing: a run's parsed rows to a committed Delta version, per run, at two run sizes.

Measured in the same run on the same rows, run after run into one lake (hourly runs of one
platform and day share a partition, so every commit after the first has a log to read):
- the product: `landing.write_observations` into the Delta lake (`DeltaLake` keeps its open
  tables between runs, as a flow's process does);
- the pre-issue-14 Parquet landing (`bench/parquet_landing.py`, one atomically renamed file
  per run): the baseline (issue 14's target: the Delta landing costs at most 1.5x it);
- a bare pyarrow landing of the same rows (`to_table`, then `pq.write_table`): the floor.
Two run sizes: 2,000 rows (a small watchlist) and 20,000 (`landing.ROW_GROUP_ROWS`, the
usual upper end): delta-rs' commit has a fixed cost of a few ms that only the larger run
amortizes (docs/design/issue14-status.md). Medians of per-run times.
Also dlt loading the same rows into DuckDB (target: we are >= 4x faster), both as dlt is
usually fed (the rows as dicts) and with its fastest input (an Arrow table). dlt is a
benchmark-only dependency (the `bench` dependency group), never a runtime one.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import pyarrow.parquet as pq

from bench import parquet_landing
from followerledger import landing
from followerledger.delta_lake import OBSERVATIONS, DeltaLake
from followerledger.lake import Lake
from followerledger.observation import Observation, to_table

AT: Final = datetime(2026, 11, 26, 1, tzinfo=UTC)
#: The issue's target: a Delta landing costs at most this many times the Parquet one.
TARGET: Final = 1.5


def make_rows(run_id: str, count: int) -> list[Observation]:
    """One run's observations as a source's parser produces them."""
    return [
        Observation(
            run_id=run_id,
            observed_at=AT + timedelta(seconds=i % 3600),
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


def _median_s(
    runs: list[list[Observation]], land: Callable[[str, list[Observation]], object]
) -> float:
    land("warm-up", [dataclasses.replace(runs[0][0], run_id="warm-up")])
    times = []
    for rows in runs:
        started = time.perf_counter()
        land(rows[0].run_id, rows)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _measure(count: int, runs: int) -> dict[str, float]:
    """Median seconds per run of each landing, and the ratios."""
    batches = [make_rows(f"run-{index:04d}", count) for index in range(runs)]
    with tempfile.TemporaryDirectory(prefix="bench-landing-") as folder:
        root = Path(folder)
        parquet_lake = Lake(root / "parquet")
        delta_lake = DeltaLake(root / "delta")
        delta_lake.table(OBSERVATIONS)

        def delta(run_id: str, rows: list[Observation]) -> None:
            landing.write_observations(delta_lake, "x", run_id, AT, rows)

        def parquet(run_id: str, rows: list[Observation]) -> None:
            parquet_landing.write_observations(parquet_lake, "x", run_id, AT, rows)

        def bare(run_id: str, rows: list[Observation]) -> None:
            pq.write_table(to_table(rows), root / f"{run_id}.parquet")

        seconds = {
            name: _median_s(batches, land)
            for name, land in (("delta", delta), ("parquet", parquet), ("bare", bare))
        }
        # Version 0 creates the table; the warm-up and every run commit one version each.
        landed = delta_lake.table(OBSERVATIONS).version()
        assert landed == runs + 1, f"{landed} Delta versions for {runs} runs"
    return {
        "delta_rows_per_s": count / seconds["delta"],
        "parquet_rows_per_s": count / seconds["parquet"],
        "bare_rows_per_s": count / seconds["bare"],
        "delta_ms": seconds["delta"] * 1000,
        "parquet_ms": seconds["parquet"] * 1000,
        "bare_ms": seconds["bare"] * 1000,
        "delta_vs_parquet": seconds["delta"] / seconds["parquet"],
        "delta_vs_bare": seconds["delta"] / seconds["bare"],
    }


def run(quick: bool = False) -> dict[str, float]:
    """Print and return rows/s and per-run ms of the three landings at 2,000 and 20,000 rows,
    their ratios, and dlt's rows/s."""
    figures: dict[str, float] = {}
    for count, runs in ((2_000, 5 if quick else 40), (20_000, 2 if quick else 10)):
        measured = _measure(count, runs)
        figures.update({f"{name}_{count}": value for name, value in measured.items()})
        ratio = measured["delta_vs_parquet"]
        verdict = "meets it" if ratio <= TARGET else "misses it"
        print(
            f"landing a {count:,}-row run (median of {runs} runs): Delta "
            f"{measured['delta_rows_per_s']:,.0f} rows/s ({measured['delta_ms']:.1f} ms), "
            f"old Parquet landing {measured['parquet_rows_per_s']:,.0f} rows/s "
            f"({measured['parquet_ms']:.1f} ms) -> Delta costs {ratio:.2f}x the old landing "
            f"(target <= {TARGET}x: {verdict}); bare pyarrow write_table "
            f"{measured['bare_rows_per_s']:,.0f} rows/s ({measured['delta_vs_bare']:.2f}x)"
        )
    rows = make_rows("bench", 20_000 if quick else 200_000)
    delta_rows_per_s = figures["delta_rows_per_s_20000"]
    dlt_dicts, dlt_arrow = _dlt_rows_per_second(rows, 2_000 if quick else 20_000)
    figures.update(
        dlt_dicts_rows_per_s=dlt_dicts,
        dlt_arrow_rows_per_s=dlt_arrow,
        speedup_vs_dlt_dicts=delta_rows_per_s / dlt_dicts,
        speedup_vs_dlt_arrow=delta_rows_per_s / dlt_arrow,
    )
    print(
        f"landing vs dlt into DuckDB (Delta landing at 20,000 rows a run): dlt from dicts "
        f"{dlt_dicts:,.0f} rows/s -> we are {figures['speedup_vs_dlt_dicts']:.0f}x faster "
        f"(target >= 4x); dlt from an Arrow table of {len(rows):,} rows {dlt_arrow:,.0f} "
        f"rows/s -> {figures['speedup_vs_dlt_arrow']:.1f}x"
    )
    return figures


def _dlt_rows_per_second(rows: list[Observation], dict_count: int) -> tuple[float, float]:
    """dlt's rows/s loading into DuckDB: from dicts (the first `dict_count` rows: dlt manages
    a few thousand rows a second that way) and from an Arrow table (all rows)."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt

    dicts = [dataclasses.asdict(row) for row in rows[:dict_count]]
    table = to_table(rows)
    with tempfile.TemporaryDirectory(prefix="bench-dlt-") as folder:
        pipeline = dlt.pipeline(
            pipeline_name="bench_landing",
            destination=dlt.destinations.duckdb(str(Path(folder) / "dlt.duckdb")),
            dataset_name="bench",
            pipelines_dir=str(Path(folder) / "pipelines"),
        )
        started = time.perf_counter()
        pipeline.run(dicts, table_name="from_dicts")
        from_dicts = time.perf_counter() - started
        started = time.perf_counter()
        pipeline.run(table, table_name="from_arrow")
        from_arrow = time.perf_counter() - started
    return len(dicts) / from_dicts, len(rows) / from_arrow
