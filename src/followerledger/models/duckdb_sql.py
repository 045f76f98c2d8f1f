"""DuckDB helpers shared by refresh and catalog publication: sessions, literals, relations."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Final

import duckdb
import pyarrow as pa

from followerledger.lake_filesystem import register_lake_filesystem
from followerledger.observation import OBSERVATION_SCHEMA

if TYPE_CHECKING:
    from followerledger.delta_lake import DeltaSnapshot
    from followerledger.layout import WarehouseLayout

_ARROW_TO_DUCKDB: Final = {
    pa.string(): "varchar",
    pa.large_string(): "varchar",
    pa.int64(): "bigint",
    pa.int32(): "integer",
    pa.float64(): "double",
    pa.bool_(): "boolean",
    pa.date32(): "date",
    pa.timestamp("us", tz="UTC"): "timestamptz",
}


#: DuckDB's memory in every connection a snapshot run opens (its identities, costs and
#: changes, over the lake's last days, grow with the watchlist): the one place these are
#: chosen. At the cap DuckDB spills to `WarehouseLayout.spill_directory` instead of growing.
#: Measured (docs/design/issue15-memory.md, Finding 4): 64 MB, with insertion order not
#: kept, halved the peak of the changes query at 100,000 accounts (+129 -> +78 MB) on a lake
#: of imported history; but a first run of 100,000 accounts ran out of memory at 64 MB in
#: the bench (`run_changes` then reads again without the cap), so 128 MB.
RUN_MEMORY_LIMIT: Final = "128MB"


def sql_text(path: str) -> str:
    """The text of a SQL file shipped in the package (`followerledger/sql/<path>`)."""
    return resources.files("followerledger.sql").joinpath(path).read_text(encoding="utf-8")


def connect(
    threads: int | None = None,
    lake: WarehouseLayout | str | None = None,
    *,
    bounded: WarehouseLayout | None = None,
    keep_order: bool = True,
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB session in UTC with the shared macros loaded; given the `lake`
    (a layout or lake URI), able to read its files wherever it lives
    (`lake_filesystem.register_lake_filesystem`: `LakeUnreachable` if it cannot).

    `bounded` (a snapshot run's connections): memory capped at `RUN_MEMORY_LIMIT`, spilling
    under that warehouse. `keep_order=False` when every query states its order (or none
    matters): DuckDB then need not buffer rows to keep their insertion order.

    The pipeline never opens the published .duckdb file read-write: all work happens in
    memory over Parquet, so analysts' connections are never blocked (DESIGN principle 5).
    """
    connection = duckdb.connect()
    try:
        connection.execute("set TimeZone = 'UTC'")
        # A long rebuild would draw DuckDB's progress bar into the CLI's output and flow logs.
        connection.execute("set enable_progress_bar = false")
        if threads is not None:
            connection.execute(f"set threads = {int(threads)}")
        if bounded is not None:
            bound_memory(connection, bounded)
        if not keep_order:
            connection.execute("set preserve_insertion_order = false")
        connection.execute(sql_text("macros.sql"))
        if lake is not None:
            register_lake_filesystem(connection, lake)
    except BaseException:
        connection.close()
        raise
    return connection


def bound_memory(connection: duckdb.DuckDBPyConnection, layout: WarehouseLayout) -> None:
    """Cap the connection's memory at `RUN_MEMORY_LIMIT`, spilling the rest to a folder of
    its own under the warehouse (DuckDB makes it when it first spills, removes it at close)."""
    spill = layout.spill_directory(secrets.token_hex(6))
    spill.parent.mkdir(parents=True, exist_ok=True)
    connection.execute(f"set memory_limit = {literal(RUN_MEMORY_LIMIT)}")
    connection.execute(f"set temp_directory = {literal(str(spill))}")


def literal(value: str) -> str:
    """A SQL string literal. Only for DDL that cannot take bound parameters (view
    definitions over file lists, ATTACH paths): the value is quoted, never interpolated raw."""
    return "'" + value.replace("'", "''") + "'"


Columns = tuple[tuple[str, str], ...]


def arrow_columns(schema: pa.Schema) -> Columns:
    """(name, DuckDB type) pairs for an Arrow schema of simple types."""
    return tuple((field.name, _ARROW_TO_DUCKDB[field.type]) for field in schema)


def parse_columns(spec: str) -> Columns:
    """(name, type) pairs from a simple `name type, name type` list (no nested types)."""
    pairs = []
    for column in spec.split(","):
        name, kind = column.strip().split(" ", 1)
        pairs.append((name, kind))
    return tuple(pairs)


def quote_name(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def empty_relation(columns: Columns) -> str:
    """A typed relation with no rows."""
    casts = ", ".join(f"cast(null as {kind}) as {quote_name(name)}" for name, kind in columns)
    return f"select {casts} where false"


def parquet_relation(paths: Sequence[str], columns: Columns, *, one_schema: bool = False) -> str:
    """SQL reading exactly these Parquet files, always with every listed column.

    `union_by_name` keeps columns that only newer files have; the typed empty relation keeps
    the full column list even when no file (or no file yet) has a column. Binding it reads
    every file's footer, so files known to share `one_schema` (a mart's files, all written
    by the same SQL: new SQL rebuilds them all) skip it.
    """
    empty = empty_relation(columns)
    if not paths:
        return empty
    files = ", ".join(literal(path) for path in paths)
    return (
        f"select * from read_parquet([{files}], union_by_name = {str(not one_schema).lower()}, "
        f"hive_partitioning = false) "
        f"union all by name {empty}"
    )


def partitioned_relation(paths: Sequence[str], columns: Columns, partitions: Sequence[str]) -> str:
    """SQL reading exactly these Parquet files of a Delta table (`delta_lake.DeltaSnapshot`),
    with every listed column, offline (no delta extension).

    Delta data files do not hold the partition columns: DuckDB reads them from the files'
    Hive-style paths (`platform=<p>/date=<d>/`, checked against the log when the snapshot is
    taken), typed as `columns` declares them. Only the listed columns come out, in their
    order: a `key=value` folder above the lake (`/data/env=prod/lake`) would otherwise read
    as one more column.
    """
    empty = empty_relation(columns)
    if not paths:
        return empty
    kinds = dict(columns)
    types = ", ".join(f"{literal(name)}: {kinds[name]}" for name in partitions)
    files = ", ".join(literal(path) for path in paths)
    names = ", ".join(quote_name(name) for name, _ in columns)
    return (
        f"select {names} from (select * from read_parquet([{files}], union_by_name = true, "
        f"hive_partitioning = true, hive_types = {{{types}}}) "
        f"union all by name {empty})"
    )


def snapshot_relation(snapshot: DeltaSnapshot) -> str:
    """SQL reading exactly the files of one Delta table version, with its table schema's
    columns (the dataset's rows plus `date`): what the catalog's views can name instead of
    the exact-file list of today's lake."""
    return partitioned_relation(
        [file.path for file in snapshot.files],
        arrow_columns(snapshot.dataset.table_schema),
        snapshot.partition_columns,
    )


def snapshot_comment(summary: str, snapshot: DeltaSnapshot) -> str:
    """A lake view's comment naming the table version it reads, so an analyst can read the
    same rows elsewhere (`pl.scan_delta(<lake>/<dataset>, version=N)`)."""
    if snapshot.version is None:
        return f"{summary} Delta table {snapshot.dataset.name}, not created yet."
    return f"{summary} Delta table {snapshot.dataset.name}, version {snapshot.version}."


OBSERVATION_COLUMNS: Final = arrow_columns(OBSERVATION_SCHEMA)
