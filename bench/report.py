"""Report: writing the HTML report of a large watchlist (500 accounts, a year of hourly runs),
against reading the same data it shows (the baseline, in the same run).

The lake is generated straight as Parquet with the product's schema (`bench.refresh`'s
generator: hourly counts, one file per platform and day), with each run's run-log record
beside it and two days on which no X run happened (gaps for the heat map and its table), then
refreshed whole, outside the timed section. Targets (issue 6): under 5 s and under 10 MB.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import duckdb

from bench.refresh import HISTORY_END, BenchLake
from followerledger.layout import WarehouseLayout
from followerledger.models.duckdb_sql import arrow_columns, literal
from followerledger.query import open_warehouse
from followerledger.refresh import refresh
from followerledger.report import charts, write_report
from followerledger.report.data import ReportData, read_report_data
from followerledger.run_log import RUN_LOG_SCHEMA

#: Days on which no X run happened (counted back from the last day).
MISSED_X_DAYS: Final = (40, 41)


def write_run_log(bench: BenchLake) -> None:
    """One run-log record per hourly run and platform (every account counted, one request
    per 100 X accounts and per 25 Bluesky accounts), one file per platform and day."""
    columns = ", ".join(
        f"cast({name} as {kind}) as {name}" for name, kind in arrow_columns(RUN_LOG_SCHEMA)
    )
    with duckdb.connect() as connection:
        connection.execute("set TimeZone = 'UTC'")
        for platform, first, end in bench.fleet.platforms():
            accounts = end - first
            per_request = 100 if platform == "x" else 25
            target = bench.lake.path(f"run_log/platform={platform}")
            Path(target).mkdir(parents=True, exist_ok=True)
            rows = f"""
                select
                    strftime(run_at, '%Y%m%dT%H%M%SZ') || '-bench' as run_id,
                    '{platform}' as platform,
                    run_at as started_at,
                    run_at + interval 2 second as finished_at,
                    {-(-accounts // per_request)} as requests,
                    null as quota_units,
                    {accounts} as accounts,
                    {accounts} as ok,
                    0 as not_found, 0 as suspended, 0 as deactivated, 0 as protected,
                    0 as hidden, 0 as error,
                    'emulator' as source,
                    cast(run_at as date) as date
                from (
                    select $start + to_hours(hour) as run_at
                    from range(0, $hours) as hours(hour)
                )
            """
            connection.execute(
                f"copy (select {columns}, date from ({rows}) order by started_at) "
                f"to {literal(target)} (format parquet, partition_by (date), "
                f"filename_pattern 'bench-run-log-{{i}}', overwrite_or_ignore true)",
                {"start": bench.start, "hours": bench.hours},
            )


def name_as_runs(bench: BenchLake) -> None:
    """Rename the generated day files from `compacted-<i>` to `bench-<i>`: a compacted file
    must carry the footer compaction writes (what it supersedes), which these do not."""
    for file in Path(bench.lake.path("")).rglob("compacted-*.parquet"):
        file.rename(file.with_name(file.name.replace("compacted-", "bench-", 1)))


def drop_x_days(bench: BenchLake) -> None:
    """Remove the X files of the missed days: no count, and no run, on those days."""
    for back in MISSED_X_DAYS:
        day = (HISTORY_END - timedelta(days=back)).date()
        for dataset in ("observations", "run_log"):
            folder = Path(bench.lake.path(f"{dataset}/platform=x/date={day.isoformat()}"))
            for file in folder.glob("*.parquet"):
                file.unlink()


def sparkline_seconds(data: ReportData) -> tuple[float, float]:
    """Seconds to draw every account's sparkline as the report does (a polyline each), and
    as a Vega-Lite line rendered by vl-convert (the alternative docs/report.md weighs)."""
    window = data.window
    started = time.perf_counter()
    for account in data.accounts:
        charts.sparkline(account["sparkline"], window.first_day, window.last_day, title="s")
    drawn = time.perf_counter() - started
    started = time.perf_counter()
    for account in data.accounts:
        line = charts.Series("counts", charts.PLATFORM_COLOURS["all"], account["sparkline"])
        spec = {
            "width": 120,
            "height": 28,
            "padding": 3,
            "data": {"values": charts.series_rows(line)},
            "mark": {"type": "line", "invalid": "break-paths-show-domains"},
            "encoding": {
                "x": {"field": "day", **charts.day_axis(window.first_day, window.last_day)}
                | {"axis": None},
                "y": {"field": "value", "type": "quantitative", "axis": None},
            },
        }
        charts.render(spec, title="s", description="s", css_class="spark")
    return drawn, time.perf_counter() - started


def run(quick: bool = False, repeat: int = 3) -> dict[str, float]:
    """Print and return the report's generation time and size, and the data-read baseline."""
    accounts, days = (100, 30) if quick else (500, 365)
    now = HISTORY_END + timedelta(hours=1)
    with tempfile.TemporaryDirectory(prefix="bench-report-") as folder:
        bench = BenchLake(Path(folder) / "lake", accounts, days)
        name_as_runs(bench)
        write_run_log(bench)
        drop_x_days(bench)
        refresh(WarehouseLayout.at(bench.warehouse, bench.lake.root), bench.watchlist, full=True)
        catalog = WarehouseLayout.at(bench.warehouse).catalog
        out = bench.warehouse / "report.html"

        reads = []
        for _ in range(repeat):
            started = time.perf_counter()
            connection = open_warehouse(catalog)
            try:
                data = read_report_data(connection, days, now.date())
            finally:
                connection.close()
            reads.append(time.perf_counter() - started)
        writes = [
            write_report(catalog, out, now=datetime.now(UTC), days=days).seconds
            for _ in range(repeat)
        ]
        size = out.stat().st_size
        polylines, rendered = sparkline_seconds(data)

    read, written = statistics.median(reads), statistics.median(writes)
    print(
        f"report: {accounts:,} accounts x {days} days of hourly runs: written in "
        f"{written:.2f} s (median of {repeat}; target < 5 s), {size / 1e6:.2f} MB "
        f"(target < 10 MB); reading its data alone {read:.2f} s, so drawing and writing "
        f"the page costs {written / read:.1f}x the read"
    )
    print(
        f"report: {len(data.accounts):,} sparklines drawn as polylines in {polylines:.2f} s; "
        f"as vl-convert renders they would take {rendered:.2f} s "
        f"({rendered / max(polylines, 1e-9):.0f}x), on top of the page's other charts"
    )
    if quick:
        print("report: (--quick: sizes too small for the targets, which are for the full run)")
    return {
        "seconds": written,
        "megabytes": size / 1e6,
        "read_seconds": read,
        "sparklines_polyline_seconds": polylines,
        "sparklines_vl_convert_seconds": rendered,
    }
