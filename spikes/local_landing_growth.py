"""Issue 14, landing cost: does a run's commit get dearer as the table grows?

One reused `DeltaTable` (as `DeltaLake.lend` keeps it), RUNS runs of 2,000 rows of one
platform, from Arrow tables (conversion excluded), three ways: overwrite by the run's
predicate with every run on one day; the same with a new day every 24 runs (hourly runs);
plain append on one day; overwrite with a checkpoint every 10 commits (delta-rs' default
interval is 100). Prints the median ms per run of each tenth of the runs.

Then `DeltaLanding` (from parsed rows) with `delta_lake.REOPEN_AFTER_VERSIONS` at 1 (reopen
every time), 20 and "never". Run: `.venv/bin/python spikes/local_landing_growth.py [runs]
[landing]` (`landing`: only the `DeltaLanding` part).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from deltalake import DeltaTable, write_deltalake

from followerledger.delta_lake import (
    OBSERVATIONS,
    PARTITION_COLUMNS,
    commit_properties,
    run_predicate,
    with_date,
)
from followerledger.observation import to_table

sys.path.insert(0, str(Path(__file__).parent))
from local_landing_cost import DAY, observations


def delta_landings(runs: int, reopen_after: int, checkpoint_interval: int = 100) -> list[float]:
    """ms per run of `DeltaLanding` (from parsed rows) with `REOPEN_AFTER_VERSIONS` set, into
    a table checkpointed every `checkpoint_interval` commits."""
    from local_landing_cost import AT

    from followerledger import delta_lake
    from followerledger.delta_landing import DeltaLanding

    saved = delta_lake.REOPEN_AFTER_VERSIONS
    delta_lake.REOPEN_AFTER_VERSIONS = reopen_after  # type: ignore[misc]
    try:
        with tempfile.TemporaryDirectory() as folder:
            lake = delta_lake.DeltaLake(folder)
            DeltaTable.create(
                lake.table_uri(OBSERVATIONS),
                OBSERVATIONS.table_schema,
                partition_by=list(PARTITION_COLUMNS),
                configuration={
                    **OBSERVATIONS.configuration,
                    "delta.checkpointInterval": str(checkpoint_interval),
                },
            )
            times = []
            for index in range(runs):
                batch = observations(f"run-{index:04d}")
                started = time.perf_counter()
                landing = DeltaLanding(lake, "x", f"run-{index:04d}", AT)
                landing.add(batch)
                landing.commit()
                times.append((time.perf_counter() - started) * 1000)
            return times
    finally:
        delta_lake.REOPEN_AFTER_VERSIONS = saved  # type: ignore[misc]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 150
    rows = to_table(observations("r"))
    tenth = max(1, runs // 10)
    if len(sys.argv) > 2 and sys.argv[2] == "landing":
        for reopen_after, interval in ((1, 100), (20, 100), (1_000_000, 100), (10, 10), (1, 10)):
            times = delta_landings(runs, reopen_after, interval)
            report(f"DeltaLanding, reopen/{reopen_after}, ckpt/{interval}", times, tenth)
        return
    for name in (
        "overwrite, one day",
        "overwrite, 24 runs a day",
        "append, one day",
        "overwrite, checkpoint/10",
    ):
        with tempfile.TemporaryDirectory() as folder:
            table = DeltaTable.create(
                f"{folder}/observations",
                OBSERVATIONS.table_schema,
                partition_by=list(PARTITION_COLUMNS),
                configuration={
                    **OBSERVATIONS.configuration,
                    **({"delta.checkpointInterval": "10"} if "checkpoint" in name else {}),
                },
            )
            times = []
            for index in range(runs):
                run_id = f"run-{index:04d}"
                day = DAY + timedelta(days=index // 24) if "24" in name else DAY
                data = with_date(
                    rows.set_column(0, "run_id", [[run_id] * len(rows)]), OBSERVATIONS, day
                )
                started = time.perf_counter()
                table.update_incremental()
                if name.startswith("append"):
                    write_deltalake(
                        table, data, mode="append", commit_properties=commit_properties()
                    )
                else:
                    write_deltalake(
                        table,
                        data,
                        mode="overwrite",
                        predicate=run_predicate("x", run_id, day),
                        commit_properties=commit_properties(),
                    )
                times.append((time.perf_counter() - started) * 1000)
        report(name, times, tenth)
    for reopen_after in (1, 20, 1_000_000):
        times = delta_landings(runs, reopen_after)
        report(f"DeltaLanding, reopen/{reopen_after}", times, tenth)


def report(name: str, times: list[float], tenth: int) -> None:
    tenths = [statistics.median(times[i : i + tenth]) for i in range(0, len(times), tenth)]
    print(
        f"{name:30s} median {statistics.median(times):5.1f}; by tenth: "
        + " ".join(f"{t:5.1f}" for t in tenths)
    )


if __name__ == "__main__":
    main()
