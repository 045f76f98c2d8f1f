"""Issue 14 step 1: what landing one 2,000-row run costs, Delta against today, in one process.

Every variant lands RUNS runs of ROWS parsed `Observation`s (one platform, one day: hourly
runs of one day share a partition), each with a new run id, into its own fresh lake under a
temporary folder, and reports the median milliseconds per run, over ROUNDS rounds (variants
interleaved per round, so box noise hits them alike), plus the ratio against today's
`landing.Landing`. Baselines: `landing.Landing` (today) and a bare `pq.write_table` of the
same rows (conversion included). Delta variants (all including `to_table` + `with_date`):

- `DeltaLanding`: the core branch's landing as it is.
- `reopen+overwrite`: `write_deltalake` into a freshly opened table, overwrite by predicate.
- `reuse+overwrite`: one `DeltaTable`, `update_incremental()` before each write.
- `reuse+append`: the same, plain append (what a first landing could be).
- `reuse+append+txn`: append with an app transaction (the concurrent-first-landing guard).
- `…+nostats` / `…+stats1`: statistics off, or the table keeping stats of 1 column only.
- `…+nohooks`: no checkpoint / log cleanup post-commit hook.

Run: `.venv/bin/python spikes/local_landing_cost.py [runs] [rounds] [name,parts]` (the last
picks variants whose name contains a part; the three baselines always run). LANDING_ROWS sets
the rows per run (2,000 by default).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
from deltalake import (
    ColumnProperties,
    CommitProperties,
    DeltaTable,
    PostCommitHookProperties,
    Transaction,
    WriterProperties,
    write_deltalake,
)

from followerledger.delta_lake import (
    OBSERVATIONS,
    PARTITION_COLUMNS,
    TARGET_FILE_SIZE,
    DeltaLake,
    commit_properties,
    run_predicate,
    with_date,
)
from followerledger.delta_landing import DeltaLanding
from followerledger.lake import Lake
from followerledger.landing import Landing
from followerledger.observation import Observation, to_table

ROWS = int(os.environ.get("LANDING_ROWS", "2000"))
AT = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
DAY = AT.date()


def observations(run_id: str) -> list[Observation]:
    return [
        Observation(
            run_id=run_id,
            observed_at=AT + timedelta(seconds=i),
            platform="x",
            handle=f"h{i}",
            status="ok",
            source="api",
            account_id=str(i),
            display_name=f"Account {i}",
            followers=i * 10,
            following=i % 97,
            posts=i % 1013,
        )
        for i in range(ROWS)
    ]


Land = Callable[[str, list[Observation]], None]


def create(root: Path, configuration: dict[str, str | None] | None = None) -> DeltaTable:
    return DeltaTable.create(
        str(root / "observations"),
        OBSERVATIONS.table_schema,
        partition_by=list(PARTITION_COLUMNS),
        configuration={"delta.targetFileSize": str(TARGET_FILE_SIZE), **(configuration or {})},
    )


def today(root: Path) -> Land:
    lake = Lake(str(root))

    def land(run_id: str, rows: list[Observation]) -> None:
        landing = Landing(lake, "x", run_id, AT)
        landing.add(rows)
        landing.commit()

    return land


def bare_parquet(root: Path) -> Land:
    def land(run_id: str, rows: list[Observation]) -> None:
        pq.write_table(to_table(rows), root / f"{run_id}.parquet")

    return land


def delta_landing(root: Path) -> Land:
    lake = DeltaLake(root)
    lake.table(OBSERVATIONS)

    def land(run_id: str, rows: list[Observation]) -> None:
        landing = DeltaLanding(lake, "x", run_id, AT)
        landing.add(rows)
        landing.commit()

    return land


def delta_landing_all_stats(root: Path) -> Land:
    """`DeltaLanding` into a table created as before: statistics of every column."""
    create(root)
    return delta_landing(root)


def reopen_overwrite(root: Path) -> Land:
    uri = str(create(root).table_uri)

    def land(run_id: str, rows: list[Observation]) -> None:
        write_deltalake(
            DeltaTable(uri),
            with_date(to_table(rows), OBSERVATIONS, DAY),
            mode="overwrite",
            predicate=run_predicate("x", run_id, DAY),
            commit_properties=commit_properties(),
        )

    return land


def reused(
    mode: str,
    *,
    txn: bool = False,
    lookup: bool = False,
    writer: WriterProperties | None = None,
    configuration: dict[str, str | None] | None = None,
    hooks: PostCommitHookProperties | None = None,
) -> Callable[[Path], Land]:
    def make(root: Path) -> Land:
        table = create(root, configuration)

        def land(run_id: str, rows: list[Observation]) -> None:
            table.update_incremental()
            if lookup:  # how `run_write` tells a first landing from a re-run
                table.transaction_version(f"observations x {run_id}")
            properties = (
                CommitProperties(
                    max_commit_retries=100,
                    app_transactions=[Transaction(app_id=f"observations x {run_id}", version=1)],
                )
                if txn
                else commit_properties()
            )
            write_deltalake(
                table,
                with_date(to_table(rows), OBSERVATIONS, DAY),
                mode="overwrite" if mode == "overwrite" else "append",
                predicate=run_predicate("x", run_id, DAY) if mode == "overwrite" else None,
                commit_properties=properties,
                writer_properties=writer,
                post_commithook_properties=hooks,
            )

        return land

    return make


NO_STATS = WriterProperties(default_column_properties=ColumnProperties(statistics_enabled="NONE"))
VARIANTS: dict[str, Callable[[Path], Land]] = {
    "pq.write_table": bare_parquet,
    "Landing (today)": today,
    "DeltaLanding": delta_landing,
    "DeltaLanding, all stats": delta_landing_all_stats,
    "reopen+overwrite": reopen_overwrite,
    "reuse+overwrite": reused("overwrite"),
    "reuse+append": reused("append"),
    "reuse+append+txn": reused("append", txn=True),
    "reuse+append+txn+lookup": reused("append", txn=True, lookup=True),
    "reuse+append+nostats": reused("append", writer=NO_STATS),
    "reuse+append+stats1": reused(
        "append", configuration={"delta.dataSkippingNumIndexedCols": "1"}
    ),
    "reuse+append+nohooks": reused(
        "append",
        hooks=PostCommitHookProperties(create_checkpoint=False, cleanup_expired_logs=False),
    ),
    "reuse+overwrite+stats1": reused(
        "overwrite", configuration={"delta.dataSkippingNumIndexedCols": "1"}
    ),
    "reuse+overwrite+statscols": reused(
        "overwrite", configuration={"delta.dataSkippingStatsColumns": "run_id,observed_at"}
    ),
    "reuse+overwrite+nohooks": reused(
        "overwrite",
        hooks=PostCommitHookProperties(create_checkpoint=False, cleanup_expired_logs=False),
    ),
    "reuse+overwrite+stats1+nohooks": reused(
        "overwrite",
        configuration={"delta.dataSkippingNumIndexedCols": "1"},
        hooks=PostCommitHookProperties(create_checkpoint=False, cleanup_expired_logs=False),
    ),
}


BASELINES = ("pq.write_table", "Landing (today)", "DeltaLanding")


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    chosen = [part for part in sys.argv[3].split(",") if part] if len(sys.argv) > 3 else None
    batches = [observations(f"run-{i:04d}") for i in range(runs)]
    medians: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):
        for name, make in VARIANTS.items():
            if chosen and name not in BASELINES and not any(part in name for part in chosen):
                continue
            with tempfile.TemporaryDirectory() as folder:
                land = make(Path(folder))
                land("warm-up", observations("warm-up"))
                times = []
                for index, rows in enumerate(batches):
                    started = time.perf_counter()
                    land(f"run-{index:04d}", rows)
                    times.append((time.perf_counter() - started) * 1000)
                medians[name].append(statistics.median(times))
    base = statistics.median(medians["Landing (today)"])
    print(f"{runs} runs x {ROWS} rows, {rounds} rounds; median ms per run (per-round medians)")
    for name, values in medians.items():
        if not values:
            continue
        figure = statistics.median(values)
        spread = ", ".join(f"{v:.1f}" for v in values)
        print(f"{name:32s} {figure:6.2f} ms  {figure / base:4.2f}x today   [{spread}]")


if __name__ == "__main__":
    main()
