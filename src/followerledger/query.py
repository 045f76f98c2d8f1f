"""Read-only SQL against the published warehouse, printed as a table, CSV or JSON.

Kept light on purpose: this path imports DuckDB and nothing heavier (never Prefect).
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import uuid
from pathlib import Path
from typing import Any, Final, Literal

import duckdb

Format = Literal["table", "csv", "json"]
FORMATS: Final = ("table", "csv", "json")
_READ_ONLY: Final = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


class QueryRefused(ValueError):
    """The statement would change something; `query` only reads."""


class WarehouseMissing(FileNotFoundError):
    """There is no published warehouse file yet."""


def check_read_only(sql: str) -> None:
    """Raise QueryRefused unless every statement only reads."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise QueryRefused(f"cannot parse the query: {_first_line(error)}") from None
    if not statements:
        raise QueryRefused("no statement given")
    for statement in statements:
        if statement.type not in _READ_ONLY:
            kind = statement.type.name
            raise QueryRefused(
                f"query is read-only and refuses {kind} statements; "
                "to change data, edit the watchlist or import a file"
            )


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def open_warehouse(catalog: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the published warehouse, in UTC."""
    if not catalog.exists():
        raise WarehouseMissing(
            f"{catalog} does not exist yet: run `followerledger snapshot` and "
            "`followerledger refresh` (or `make demo`) first"
        )
    connection = duckdb.connect(str(catalog), read_only=True)
    connection.execute("set TimeZone = 'UTC'")
    return connection


def run_query(catalog: Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Columns and rows of a read-only query (only the last statement's result is kept)."""
    check_read_only(sql)
    connection = open_warehouse(catalog)
    try:
        statements = duckdb.extract_statements(sql)
        for statement in statements[:-1]:
            connection.execute(statement)
        relation = connection.sql(statements[-1].query)
        if relation is None:
            return [], []
        return list(relation.columns), relation.fetchall()
    finally:
        connection.close()


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
