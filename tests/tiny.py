"""Tiny lakes for mart tests: observations landed as real Parquet runs, and catalog queries."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import duckdb
from deltalake import DeltaTable

from followerledger import landing, run_log
from followerledger.delta_lake import DeltaFile, DeltaLake
from followerledger.lake import marts_of
from followerledger.layout import WarehouseLayout
from followerledger.manifest import ManifestStore
from followerledger.models import DAILY, INCREMENTAL, LAKE_DATASETS, SEEDS, SNAPSHOT, VIEWS
from followerledger.models.audits import audit_failures
from followerledger.models.duckdb_sql import literal, quote_name
from followerledger.models.session import ModelSession
from followerledger.observation import Observation, Status
from followerledger.sources.base import Usage


def obs(
    run_id: str,
    when: datetime,
    platform: str,
    handle: str,
    followers: int | None,
    account_id: str | None,
    status: Status = "ok",
    requested: str | None = None,
    source: str = "api",
) -> Observation:
    """One observation as a source would land it."""
    return Observation(
        run_id=run_id,
        observed_at=when,
        platform=platform,
        handle=handle,
        status=status,
        source=source,  # type: ignore[arg-type]
        account_id=account_id,
        followers=followers,
        requested_handle=requested or handle,
    )


def land(lake: DeltaLake, stage: tuple[str, datetime, Sequence[Observation]]) -> None:
    """One run as the snapshot flow lands it: per platform, its rows and its run record,
    partitioned by the run's start date (imports land rows only, like the import command)."""
    run_id, started_at, rows = stage
    for platform in sorted({row.platform for row in rows}):
        platform_rows = [row for row in rows if row.platform == platform]
        landing.write_observations(lake, platform, run_id, started_at, platform_rows)
        if all(row.source != "import" for row in platform_rows):
            finished_at = max(row.observed_at for row in platform_rows)
            record = run_log.summarize(
                run_id, platform, started_at, finished_at, platform_rows, Usage(1)
            )
            landing.write_run_record(lake, record)


def land_rows(lake: DeltaLake, rows: Iterable[Observation]) -> None:
    """Rows grouped into runs by run id; each run starts at its earliest observation."""
    runs: dict[str, list[Observation]] = {}
    for row in rows:
        runs.setdefault(row.run_id, []).append(row)
    for run_id, run_rows in sorted(runs.items()):
        land(lake, (run_id, min(row.observed_at for row in run_rows), run_rows))


def moment(day: date, hour: int = 12) -> datetime:
    """A UTC moment on a day."""
    return datetime.combine(day, time(hour), tzinfo=UTC)


def days_from(first: date, count: int) -> list[date]:
    """`count` consecutive days from `first`."""
    return [first + timedelta(days=offset) for offset in range(count)]


def query(warehouse: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a query on the published catalog, read-only, as an analyst runs it."""
    with duckdb.connect(str(WarehouseLayout.at(warehouse).catalog), read_only=True) as connection:
        connection.execute("set TimeZone = 'UTC'")
        return connection.sql(sql).fetchall()


def audit_warehouse(warehouse: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The rows every failing audit returns over a refreshed warehouse: its published
    catalog, the incremental models refresh keeps, and the staging views over them."""
    layout = WarehouseLayout.at(warehouse)
    session = ModelSession(threads=1)
    try:
        session.connection.execute(
            f"attach {literal(str(layout.catalog))} as published (read_only)"
        )
        published = [
            *LAKE_DATASETS,
            *(seed.name for seed in SEEDS),
            *(model.name for model in DAILY + SNAPSHOT + VIEWS),
            "watchlist",
            "landscapes",
        ]
        for name in published:
            session.bind_sql(name, f"select * from published.{quote_name(name)}")
        marts = marts_of(layout)
        stored = ManifestStore(layout).load().marts
        for model in INCREMENTAL:
            paths = [marts.path(key) for key in stored.get(model.name, [])]
            session.bind_parquet(model.name, paths, model.columns)
        session.create_staging()
        return audit_failures(session.connection)
    finally:
        session.close()


def lake_rows(lake: DeltaLake, dataset: str = "observations") -> list[dict[str, Any]]:
    """Every row a lake table's latest version holds (without the `date` partition column),
    in the order its files hold them (each run's rows as landed)."""
    from followerledger.delta_lake import DATASETS

    table = next(item for item in DATASETS if item.name == dataset)
    snapshot = lake.snapshot(table)
    if snapshot.version is None:
        return []
    read = DeltaTable(lake.table_uri(table), storage_options=lake.storage_options)
    rows: list[dict[str, Any]] = read.to_pyarrow_table().drop_columns(["date"]).to_pylist()
    return rows


def lake_files(lake: DeltaLake, dataset: str = "observations") -> tuple[DeltaFile, ...]:
    """The data files a lake table's latest version names (none before its first commit)."""
    from followerledger.delta_lake import DATASETS

    return lake.snapshot(next(item for item in DATASETS if item.name == dataset)).files
