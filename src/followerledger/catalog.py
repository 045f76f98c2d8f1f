"""Publish `followerledger.duckdb`: the file analysts open, holding views over exact files.

The catalog is built under a temporary name and swapped in with `os.replace`, never opened
read-write in place: a reader holding the old file keeps its snapshot, a new reader sees the
new one, and nobody waits on DuckDB's exclusive file lock (DESIGN principle 5).
Each view names the exact Parquet files that make up its relation at publication time: a lake
view the files its Delta table's latest version names (read from the log, so the catalog opens
offline, with no delta extension; its comment names the version), a mart view its current
month files. A reader never sees a half-done compaction or a file that is still being written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import duckdb

from followerledger import locks, pause
from followerledger.delta_lake import DATASETS, delta_lake_of
from followerledger.lake import marts_of
from followerledger.lake_filesystem import register_lake_filesystem
from followerledger.layout import WarehouseLayout
from followerledger.leftovers import temporary_name
from followerledger.manifest import ManifestStore
from followerledger.models import DAILY, LAKE_DATASETS, SEEDS, SNAPSHOT, VIEWS, Model
from followerledger.models.duckdb_sql import (
    bound_memory,
    literal,
    parquet_relation,
    quote_name,
    snapshot_comment,
    snapshot_relation,
)
from followerledger.models.session import model_columns, seed_relation, watchlist_tables
from followerledger.watchlist import Watchlist

__all__ = [
    "STORAGE_VERSION",
    "publish",
]

#: Written in an older storage format so that the DuckDB CLI from PyPI (1.5.x) can open it.
STORAGE_VERSION: Final = "v1.4.0"


def _summary(model: Model) -> str:
    """The first sentence group of a model's header comment."""
    lines = []
    for line in model.sql.splitlines():
        if not line.startswith("--"):
            break
        lines.append(line.removeprefix("--").strip())
    return " ".join(lines)


def publish(layout: WarehouseLayout, watchlist: Watchlist | None) -> Path:
    """Write a new catalog naming the current lake and mart files, and swap it in.

    The build manifest is read under the catalog lock, so concurrent publishers (a snapshot
    and a refresh) always leave the newest manifest published.
    """
    layout.warehouse.mkdir(parents=True, exist_ok=True)
    store = ManifestStore(layout)
    lake, marts = delta_lake_of(layout), marts_of(layout)
    target = layout.catalog
    with locks.hold(layout, "catalog"):
        state = store.load()
        temporary = target.with_name(temporary_name(target.name))
        connection = duckdb.connect()
        try:
            bound_memory(connection, layout)
            # Creating a view over lake files binds it: DuckDB reads their footers now.
            register_lake_filesystem(connection, layout)
            connection.execute(
                f"attach {literal(str(temporary))} as ledger "
                f"(storage_version {literal(STORAGE_VERSION)})"
            )
            connection.execute("use ledger")
            for table in DATASETS:
                snapshot = lake.snapshot(table)
                _create_view(
                    connection,
                    table.name,
                    snapshot_relation(snapshot),
                    snapshot_comment(LAKE_DATASETS[table.name].comment, snapshot),
                )
            columns = model_columns()
            for model in DAILY + SNAPSHOT:
                paths = [marts.path(key) for key in state.marts.get(model.name, [])]
                _create_view(
                    connection,
                    model.name,
                    parquet_relation(paths, columns[model.name], one_schema=True),
                    _summary(model),
                )
            for seed in SEEDS:
                connection.execute(f"create table {quote_name(seed.name)} as {seed_relation(seed)}")
            accounts, landscapes = watchlist_tables(watchlist)
            for name, table in (("watchlist", accounts), ("landscapes", landscapes)):
                connection.register(f"{name}__arrow", table)
                connection.execute(
                    f"create table {quote_name(name)} as "
                    f"select * from {quote_name(name + '__arrow')}"
                )
            # Views over the relations above, computed when an analyst queries them.
            for model in VIEWS:
                _create_view(connection, model.name, model.sql, _summary(model))
            connection.execute("use memory")
            connection.execute("detach ledger")
        except BaseException:
            connection.close()
            for leftover in (temporary, Path(f"{temporary}.wal")):
                leftover.unlink(missing_ok=True)
            raise
        connection.close()
        pause.point("catalog-rename")
        os.replace(temporary, target)
    return target


def _create_view(
    connection: duckdb.DuckDBPyConnection, name: str, relation: str, comment: str
) -> None:
    connection.execute(f"create view {quote_name(name)} as {relation}")
    connection.execute(f"comment on view {quote_name(name)} is {literal(comment)}")
