"""Issue 14, landing cost: one commit per platform per run (today's design) against one commit
of all the run's platforms, with one reused `DeltaTable`, overwrite by predicate.

Run: `.venv/bin/python spikes/local_one_commit_per_run.py [runs] [platforms] [rows]`.
Prints the median ms per run (and of the first and last tenth of the runs: does the cost grow
with the table?) (all platforms landed, from Arrow tables: conversion excluded) for
both.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
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


def platform_rows(run_id: str, platform: str, rows: int) -> pa.Table:
    table = to_table(observations(run_id)[:rows])
    return table.set_column(
        table.schema.get_field_index("platform"), "platform", pa.array([platform] * len(table))
    )


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    platforms = [f"p{i}" for i in range(int(sys.argv[2]) if len(sys.argv) > 2 else 3)]
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    results: dict[str, list[float]] = {"per platform": [], "one per run": []}
    for name in results:
        with tempfile.TemporaryDirectory() as folder:
            table = DeltaTable.create(
                f"{folder}/observations",
                OBSERVATIONS.table_schema,
                partition_by=list(PARTITION_COLUMNS),
                configuration=OBSERVATIONS.configuration,
            )
            for index in range(runs):
                run_id = f"run-{index:04d}"
                parts = [platform_rows(run_id, p, rows) for p in platforms]
                started = time.perf_counter()  # from Arrow tables: the commits only
                if name == "per platform":
                    for platform, part in zip(platforms, parts, strict=True):
                        table.update_incremental()
                        write_deltalake(
                            table,
                            with_date(part, OBSERVATIONS, DAY),
                            mode="overwrite",
                            predicate=run_predicate(platform, run_id, DAY),
                            commit_properties=commit_properties(),
                        )
                else:
                    table.update_incremental()
                    quoted = ", ".join(f"'{p}'" for p in platforms)
                    write_deltalake(
                        table,
                        with_date(pa.concat_tables(parts), OBSERVATIONS, DAY),
                        mode="overwrite",
                        predicate=(
                            f"run_id = '{run_id}' AND platform IN ({quoted}) "
                            f"AND date = '{DAY.isoformat()}'"
                        ),
                        commit_properties=commit_properties(),
                    )
                results[name].append((time.perf_counter() - started) * 1000)
            assert DeltaTable(f"{folder}/observations").to_pyarrow_table().num_rows == (
                runs * rows * len(platforms)
            )
    print(f"{runs} runs x {len(platforms)} platforms x {rows} rows: median ms per run")
    tenth = max(1, runs // 10)
    for name, times in results.items():
        print(
            f"{name:14s} {statistics.median(times):7.2f} ms (first {tenth} runs "
            f"{statistics.median(times[:tenth]):.2f}, last {tenth} {statistics.median(times[-tenth:]):.2f})"
        )


if __name__ == "__main__":
    main()
