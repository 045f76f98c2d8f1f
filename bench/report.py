"""Report: writing the HTML report of a large watchlist (500 accounts, a year of hourly runs),
against reading the same data it shows (the baseline, in the same run).

The lake is generated straight into its Delta tables (`bench.refresh`'s generator: hourly
counts, one file per platform and day), with each run's run-log record in the run-log table
and two days on which no X run happened (gaps for the heat map and its table), then
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
from deltalake import write_deltalake

from bench.refresh import HISTORY_END, BenchLake
from followerledger.delta_lake import OBSERVATIONS, RUN_LOG, commit_properties
from followerledger.models.duckdb_sql import arrow_columns
from followerledger.query import open_warehouse
from followerledger.refresh import refresh
from followerledger.report import charts, write_report
from followerledger.report.data import ReportData, read_report_data
from followerledger.run_log import RUN_LOG_SCHEMA

#: Days on which no X run happened (counted back from the last day).
MISSED_X_DAYS: Final = (40, 41)


def write_run_log(bench: BenchLake) -> None:
    """One run-log record per hourly run and platform (every account counted, one request
    per 100 X accounts and per 25 Bluesky accounts), appended to the run-log Delta table
    (one write per platform: one file per platform and day)."""
    schema = RUN_LOG.table_schema
    columns = ", ".join(
        f"cast({name} as {kind}) as {name}" for name, kind in arrow_columns(RUN_LOG_SCHEMA)
    )
    bench.lake.table(RUN_LOG)
    with duckdb.connect() as connection:
        connection.execute("set TimeZone = 'UTC'")
        for platform, first, end in bench.fleet.platforms():
            accounts = end - first
            per_request = 100 if platform == "x" else 25
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
                    null as shard,
                    null as credential,
                    cast(run_at as date) as date
                from (
                    select $start + to_hours(hour) as run_at
                    from range(0, $hours) as hours(hour)
                )
            """
            table = connection.sql(
                f"select {columns}, date from ({rows}) order by started_at",
                params={"start": bench.start, "hours": bench.hours},
            ).to_arrow_table()
            write_deltalake(
                bench.lake.table_uri(RUN_LOG),
                table.cast(schema),
                mode="append",
                storage_options=bench.lake.storage_options,
                commit_properties=commit_properties(),
            )


def drop_x_days(bench: BenchLake) -> None:
    """Delete the X rows of the missed days: no count, and no run, on those days (a delete
    by partition values only: whole files leave the table, none is rewritten)."""
    missed = {(HISTORY_END - timedelta(days=back)).date() for back in MISSED_X_DAYS}
    days = ", ".join(f"'{day.isoformat()}'" for day in sorted(missed))
    for dataset in (OBSERVATIONS, RUN_LOG):
        with bench.lake.writing(dataset) as table:
            table.delete(
                f"platform = 'x' and date in ({days})", commit_properties=commit_properties()
            )
        left = [
            file.key
            for file in bench.lake.snapshot(dataset).files
            if file.platform == "x" and file.day in missed
        ]
        assert not left, f"{dataset.name}: files left on the missed days: {left}"


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
        write_run_log(bench)
        drop_x_days(bench)
        refresh(bench.layout, bench.watchlist, full=True)
        catalog = bench.layout.catalog
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
