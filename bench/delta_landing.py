"""Delta landing (issue 14): a run's parsed rows to a committed Delta version, per run.

Measured in the same run on the same rows, run after run into one lake (hourly runs of one
platform and day share a partition, so every commit after the first has a log to read):
- today's `landing.Landing` into a Parquet lake: the baseline (target: Delta <= 1.5x);
- `delta_landing.DeltaLanding` into a Delta lake (`DeltaLake` keeps its open tables);
- a bare `pq.write_table` of the same rows (`to_table` included): the floor.
Two run sizes: 2,000 rows (a small watchlist) and 20,000 (`landing.ROW_GROUP_ROWS`, the
usual upper end), since delta-rs' commit has a fixed cost of a few ms that only the larger
run amortizes (docs/design/issue14-status.md, branch i14-delta-next). Medians of per-run
times. The variants behind these figures are in `spikes/local_landing_cost.py`.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from followerledger.delta_landing import DeltaLanding

from followerledger.delta_lake import OBSERVATIONS, DeltaLake
from followerledger.lake import Lake
from followerledger.landing import Landing
from followerledger.observation import Observation, to_table

AT = datetime(2026, 11, 26, 1, tzinfo=UTC)


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


def _median_ms(
    runs: list[list[Observation]], land: Callable[[str, list[Observation]], object]
) -> float:
    land("warm-up", runs[0][:1])
    times = []
    for index, rows in enumerate(runs):
        started = time.perf_counter()
        land(f"run-{index:04d}", rows)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _measure(count: int, runs: int) -> dict[str, float]:
    batches = [make_rows(f"run-{index:04d}", count) for index in range(runs)]
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        parquet_lake = Lake(root / "parquet")
        delta_lake = DeltaLake(root / "delta")
        delta_lake.table(OBSERVATIONS)

        def today(run_id: str, rows: list[Observation]) -> None:
            landing = Landing(parquet_lake, "x", run_id, AT)
            landing.add(_as_run(rows, run_id))
            landing.commit()

        def delta(run_id: str, rows: list[Observation]) -> None:
            landing = DeltaLanding(delta_lake, "x", run_id, AT)
            landing.add(_as_run(rows, run_id))
            landing.commit()

        def bare(run_id: str, rows: list[Observation]) -> None:
            pq.write_table(to_table(rows), root / f"{run_id}.parquet")

        figures = {
            name: _median_ms(batches, land)
            for name, land in (("today_ms", today), ("delta_ms", delta), ("bare_ms", bare))
        }
    figures["delta_vs_today"] = figures["delta_ms"] / figures["today_ms"]
    figures["delta_vs_bare"] = figures["delta_ms"] / figures["bare_ms"]
    return figures


def _as_run(rows: list[Observation], run_id: str) -> list[Observation]:
    """The rows with the run id the landing expects (the warm-up reuses a run's rows)."""
    if rows and rows[0].run_id == run_id:
        return rows
    return [dataclasses.replace(row, run_id=run_id) for row in rows]


def run(quick: bool = False) -> dict[str, float]:
    """Print and return per-run ms and ratios at 2,000 and 20,000 rows."""
    figures: dict[str, float] = {}
    for count, runs in ((2_000, 5 if quick else 40), (20_000, 2 if quick else 10)):
        measured = _measure(count, runs)
        figures.update({f"{name}_{count}": value for name, value in measured.items()})
        print(
            f"landing a {count:,}-row run ({runs} runs): today's Landing "
            f"{measured['today_ms']:.1f} ms, DeltaLanding {measured['delta_ms']:.1f} ms -> "
            f"{measured['delta_vs_today']:.2f}x today (target <= 1.5x); bare pq.write_table "
            f"{measured['bare_ms']:.1f} ms ({measured['delta_vs_bare']:.2f}x)"
        )
    return figures
