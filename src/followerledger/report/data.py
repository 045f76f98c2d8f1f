"""What the report shows, read from the published warehouse in one read-only connection.

One connection for every query: all sections come from the same published catalog, even if
a refresh swaps in a new one meanwhile. Each query is a file in `sql/html_report/` with bound
parameters; they read the watched accounts from one temporary view, `watched`, created first.
This module only groups their rows for the page.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import date, timedelta
from typing import Any, Final

import duckdb

from followerledger.models import sql_parameters
from followerledger.models.duckdb_sql import sql_text

Row = dict[str, Any]

#: How many of the latest snapshot runs the run-health table lists.
LAST_RUNS: Final = 20


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """The UTC days the report covers, inclusive."""

    first_day: date
    last_day: date

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


@dataclasses.dataclass(frozen=True, slots=True)
class BrandLine:
    """A brand's daily totals on one platform (or `all`), as brand_daily has them."""

    platform: str
    rows: list[Row]

    @property
    def points(self) -> list[tuple[date, float]]:
        return [(row["day"], row["followers"]) for row in self.rows]


@dataclasses.dataclass(frozen=True, slots=True)
class Brand:
    """One brand's lines (`all` first, then each platform) and its marked days."""

    name: str
    lines: list[BrandLine]
    anomalies: list[Row]


@dataclasses.dataclass(frozen=True, slots=True)
class Landscape:
    """One landscape's share of audience rows, per day and brand."""

    name: str
    rows: list[Row]

    @property
    def days(self) -> list[date]:
        return sorted({row["day"] for row in self.rows})

    @property
    def last_day(self) -> date:
        return self.days[-1]

    def on(self, day: date) -> list[Row]:
        """The rows of a day, largest share first."""
        return sorted(
            (row for row in self.rows if row["day"] == day), key=lambda row: -row["share_pct"]
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ReportData:
    """Everything the page shows, grouped by section."""

    window: Window
    overview: Row
    brands: list[Brand]
    accounts: list[Row]  # each with `sparkline`: [(day, followers)] and `coverage` stretches
    landscapes: list[Landscape]
    projections: list[Row]
    gaps: list[Row]
    last_runs: list[Row]
    run_days: list[Row]


def run_report_query(
    connection: duckdb.DuckDBPyConnection, name: str, parameters: dict[str, object]
) -> list[Row]:
    """Rows of `sql/html_report/<name>.sql` as dicts, with the parameters it names bound."""
    sql = sql_text(f"html_report/{name}.sql")
    relation = connection.sql(sql, params={key: parameters[key] for key in sql_parameters(sql)})
    columns = list(relation.columns)
    return [dict(zip(columns, row, strict=True)) for row in relation.fetchall()]


def report_window(last_day: date | None, days: int, today: date) -> Window:
    """The last `days` UTC days up to the last day with a count (today when there is none)."""
    end = last_day or today
    return Window(end - timedelta(days=days - 1), end)


def create_watched_view(connection: duckdb.DuckDBPyConnection) -> None:
    """`watched` (sql/html_report/watched.sql): the watched accounts, one definition that
    every report query reads. A temporary view, so the read-only catalog is unchanged."""
    sql = sql_text("html_report/watched.sql")
    connection.execute(f"create or replace temp view watched as {sql}")


def read_report_data(connection: duckdb.DuckDBPyConnection, days: int, today: date) -> ReportData:
    """Every section's rows for the last `days` days of data."""
    create_watched_view(connection)
    overview = run_report_query(connection, "overview", {})[0]
    window = report_window(overview["last_day"], days, today)
    parameters: dict[str, object] = {
        "first_day": window.first_day,
        "last_day": window.last_day,
        "runs": LAST_RUNS,
    }

    def rows(name: str) -> list[Row]:
        return run_report_query(connection, name, parameters)

    accounts = rows("accounts")
    sparklines: dict[str, list[tuple[date, float]]] = defaultdict(list)
    for row in rows("sparklines"):
        sparklines[row["account_key"]].append((row["day"], row["followers"]))
    stretches: dict[str, list[Row]] = defaultdict(list)
    for row in rows("coverage"):
        stretches[row["account_key"]].append(row)
    for account in accounts:
        account["sparkline"] = sparklines.get(account["account_key"], [])
        account["coverage"] = stretches.get(account["account_key"], [])

    return ReportData(
        window=window,
        overview=overview,
        brands=_brands(
            sorted({row["brand"] for row in accounts if row["brand"] is not None}),
            rows("brand_lines"),
            rows("anomalies"),
        ),
        accounts=accounts,
        landscapes=[
            Landscape(name, list(group)) for name, group in _grouped(rows("share"), "landscape")
        ],
        projections=rows("projections"),
        gaps=rows("gaps"),
        last_runs=rows("last_runs"),
        run_days=rows("run_days"),
    )


def _grouped(rows: list[Row], key: str) -> list[tuple[str, list[Row]]]:
    """Rows grouped by a column, in the order the groups first appear."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    return list(groups.items())


def _brands(names: list[str], lines: list[Row], anomalies: list[Row]) -> list[Brand]:
    """Every watched brand, with its lines in the window (none: nothing counted then)."""
    by_brand = dict(_grouped(lines, "brand"))
    marked = dict(_grouped(anomalies, "brand"))
    return [
        Brand(
            name,
            [
                BrandLine(platform, points)
                for platform, points in _grouped(by_brand.get(name, []), "platform")
            ],
            marked.get(name, []),
        )
        for name in names
    ]
