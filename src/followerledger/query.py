"""Read-only SQL against the published warehouse, printed as a table, CSV or JSON.

Kept light on purpose: this path imports DuckDB and nothing heavier (never Prefect; pyarrow
only for an `s3://` lake, whose files DuckDB reads through `lake_filesystem`).
The connection is confined with DuckDB's own controls to the warehouse's marts and the lake,
so `query` can be offered to analysts on a shared machine.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import os
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final, Literal

import duckdb

from followerledger.lake_filesystem import (
    is_s3_lake,
    lake_read_failure,
    readable_lake_prefix,
    register_lake_filesystem,
)

__all__ = [
    "FORMATS",
    "Format",
    "QueryRefused",
    "WarehouseMissing",
    "check_read_only",
    "open_warehouse",
    "render",
    "run_query",
]

Format = Literal["table", "csv", "json"]
FORMATS: Final = ("table", "csv", "json")
_READ_ONLY: Final = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class QueryRefused(ValueError):
    """The input is not one statement that only reads the warehouse; `query` refuses it."""


class WarehouseMissing(FileNotFoundError):
    """There is no published warehouse file yet."""


def check_read_only(sql: str) -> str:
    """The one statement in `sql`; QueryRefused unless it is exactly one that only reads.

    A syntax error is DuckDB's to report (duckdb.ParserException, with its caret).
    """
    statements = duckdb.extract_statements(sql)
    if not statements:
        raise QueryRefused("no statement given")
    for statement in statements:
        if statement.type not in _READ_ONLY:
            kind = statement.type.name
            raise QueryRefused(
                f"query is read-only and refuses {kind} statements; "
                "to change data, edit the watchlist or import a file"
            )
    # Only reads pass the check above, so every result but the last would be thrown away.
    if len(statements) > 1:
        raise QueryRefused(
            f"query runs one statement at a time and was given {len(statements)}; "
            "run each on its own"
        )
    return statements[0].query


def open_warehouse(
    catalog: Path, readable: Iterable[Path] | None = None, lake: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse, in UTC.

    With `lake` (the lake's path or URI), the lake's files can be read wherever it lives: an
    `s3://` lake's filesystem is registered (`lake_filesystem.register_lake_filesystem`).
    With `readable` (what `followerledger query` passes: the marts folder, and the lake
    folder if it is local), DuckDB can open no file but the catalog, those under these
    folders and, for an `s3://` lake, those under its root; the connection cannot be
    reconfigured. Without it, the pipeline's own readers (the report) read unconfined.
    """
    if not catalog.exists():
        raise WarehouseMissing(
            f"{catalog} does not exist yet: run `followerledger snapshot` and "
            "`followerledger refresh` (or `make demo`) first"
        )
    connection = duckdb.connect(str(catalog), read_only=True)
    try:
        connection.execute("set TimeZone = 'UTC'")
        if lake is not None:
            # A Python call, not SQL: it works after the lock below too, but no user reaches it.
            register_lake_filesystem(connection, lake)
        if readable is not None:
            folders = _spellings(readable)
            if lake is not None and is_s3_lake(lake):
                folders.append(readable_lake_prefix(lake))
            connection.execute("set allowed_directories = $folders", {"folders": folders})
            # After the catalog is attached (it stays readable), and locked last.
            connection.execute("set enable_external_access = false")
            connection.execute("set lock_configuration = true")
    except BaseException:
        connection.close()
        raise
    return connection


def _spellings(folders: Iterable[Path]) -> list[str]:
    """Each folder as the views spell it (absolute, as the lake writes it) and resolved."""
    spellings: list[str] = []
    for folder in folders:
        for spelling in (os.path.abspath(folder), os.path.realpath(folder)):
            if spelling not in spellings:
                spellings.append(spelling)
    return spellings


def run_query(
    catalog: Path,
    sql: str,
    readable: Iterable[Path] | None = None,
    lake: str | None = None,
    views: Mapping[str, str] | None = None,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Columns and rows of one read-only statement; given `readable`, reading only the catalog
    and files under those folders and the `lake` (see `open_warehouse`), QueryRefused for a
    read outside; `lake_filesystem.LakeUnreachable` (one line) when an S3 lake's files
    cannot be read.

    `views` (name -> SQL, e.g. `lake_as_of.lake_views_as_of`) become temporary views of the
    connection. DuckDB resolves an unqualified name to a temporary view first, so each one
    shadows the catalog's relation of that name, in the statement and inside the catalog's
    views that read it; `followerledger.<name>` still names the catalog's.
    """
    statement = check_read_only(sql)
    connection = open_warehouse(catalog, readable, lake)
    try:
        for name, definition in (views or {}).items():
            connection.execute(f"create temporary view {_quoted_name(name)} as {definition}")
        relation = connection.sql(statement)
        if relation is None:
            return [], []
        return list(relation.columns), relation.fetchall()
    except duckdb.PermissionException as error:
        raise QueryRefused(f"query reads only the warehouse's marts and lake: {error}") from None
    except duckdb.Error as error:
        failure = None if lake is None else lake_read_failure(lake, error)
        if failure is None:
            raise
        raise failure from None
    finally:
        connection.close()


def _quoted_name(name: str) -> str:
    # models.duckdb_sql.quote_name, not imported: it brings pyarrow with it.
    return '"' + name.replace('"', '""') + '"'


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID | dt.timedelta | bytes):
        return str(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def render(columns: list[str], rows: list[tuple[Any, ...]], fmt: Format) -> str:
    """The result as text in the given format."""
    if fmt == "json":
        return json.dumps(
            [dict(zip(columns, map(_plain, row), strict=True)) for row in rows],
            ensure_ascii=False,
            indent=1,
        )
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if value is None else _csv_cell(value) for value in row])
        return buffer.getvalue().rstrip("\n")
    return _table(columns, rows)


def _csv_cell(value: Any) -> str:
    plain = _plain(value)
    return json.dumps(plain, ensure_ascii=False) if isinstance(plain, dict | list) else str(plain)


def _table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    cells = [["NULL" if v is None else str(_plain(v)) for v in row] for row in rows]
    widths = [max([len(name)] + [len(row[i]) for row in cells]) for i, name in enumerate(columns)]
    numeric = [
        all(isinstance(row[i], int | float | decimal.Decimal) or row[i] is None for row in rows)
        and rows != []
        for i in range(len(columns))
    ]

    def line(values: list[str]) -> str:
        parts = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ]
        return "│ " + " │ ".join(parts) + " │"

    rule = "─┼─".join("─" * width for width in widths)
    out = [line(list(columns)), "├─" + rule + "─┤", *(line(row) for row in cells)]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)
