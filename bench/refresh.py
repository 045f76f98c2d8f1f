"""Refresh: one new run incrementally versus `refresh --full`, on a year and on five years of
hourly history, `refresh --full` against a bare DuckDB query computing `daily_followers` from
the same files, and reading every account's latest growth through the published catalog.

The lake is generated straight into the observations Delta table (`write_deltalake`, the
table created by `DeltaLake` with its configuration, partitioned by platform and `date`;
outside the timed sections), laid out as compaction leaves it: one file per platform and UTC
day; each new run then lands through `landing.write_observations`. Targets (issue 4):
incremental at least 20x faster than full; the five-year incremental within 1.5x of the
one-year one; the latest-growth read under 50 ms. Issue 14's targets, against today's figures
(`TODAY`, the Parquet lake's last full run): incremental within 1.2x, `refresh --full` no
slower. Issue 15's: `refresh --full` within 2x of the bare query (`BARE_DAILY_SQL`, whose
result is checked against the mart's: rows and a checksum), incremental at least 50x faster
than full at one year, and within 1.2x of the one-year figure at five years. Each full
refresh's costliest steps (`RefreshReport.steps`) are printed: where its time goes.
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final

import duckdb
import pyarrow as pa
from deltalake import write_deltalake

from followerledger import landing
from followerledger.delta_lake import OBSERVATIONS, DeltaLake, commit_properties, delta_lake_of
from followerledger.layout import WarehouseLayout
from followerledger.models.duckdb_sql import OBSERVATION_COLUMNS
from followerledger.observation import Observation
from followerledger.refresh import RefreshReport, refresh
from followerledger.watchlist import Watchlist, load_watchlist

#: Today's figures (seconds, full run: 2,000 accounts, 1 and 5 years): bench/RESULTS.md as
#: committed in b42de10, the last full `make bench` over the Parquet lake before issue 14.
#: Constants, not read from the file: the next full run rewrites it with the Delta figures.
TODAY: Final = {
    "incremental_s_365d": 1.121,
    "incremental_s_1825d": 1.479,
    "full_s_365d": 46.99,
    "full_s_1825d": 336.07,
}
#: Issue 14's targets: incremental refresh within 1.2x of today's; full no slower.
INCREMENTAL_TARGET: Final = 1.2
FULL_TARGET: Final = 1.0
#: Issue 15's targets: `refresh --full` within 2x of the bare query; incremental at least 50x
#: faster than full at one year; at five years within 1.2x of the one-year incremental.
BARE_TARGET: Final = 2.0
SPEEDUP_TARGET: Final = 50.0
GROWTH_TARGET: Final = 1.2
#: The full run's lakes: accounts, and days of the shorter one (the other is five times as long).
FULL_ACCOUNTS: Final = 2000
FULL_DAYS: Final = 365
#: The full refresh's costliest steps printed.
TOP_STEPS: Final = 8

#: Three accounts in four on X, the others on Bluesky; ten accounts a brand, five brands a
#: landscape.
X_SHARE: Final = 0.75
BRAND_SIZE: Final = 10
LANDSCAPE_SIZE: Final = 5

#: Every account's latest growth, as warehouse/README.md's account_growth example and the demo
#: read it.
LATEST_GROWTH_SQL: Final = """
select account_growth.*
from account_growth
join accounts
    on accounts.account_key = account_growth.account_key
    and account_growth.day = cast(timezone('UTC', accounts.counted_at) as date)
"""

#: The same question asked of the raw observations: each account's latest count and its
#: change over 7 days, without the marts.
RAW_LATEST_GROWTH_SQL: Final = """
with counted as (
    select platform, account_id, observed_at, followers
    from observations
    where followers is not null and account_id is not null
),
latest as (
    select platform, account_id, max(observed_at) as observed_at,
           arg_max(followers, observed_at) as followers
    from counted
    group by all
)
select latest.platform, latest.account_id, latest.followers,
       latest.followers - earlier.followers as change_7d
from latest
asof left join counted as earlier
    on earlier.platform = latest.platform
    and earlier.account_id = latest.account_id
    and earlier.observed_at <= latest.observed_at - interval 7 days
"""


#: `daily_followers` as warehouse/README.md defines it, asked of the lake's Parquet files
#: directly (`$files`: the observations table's current files): one row per account and UTC
#: day with a count, the day's last observation (latest `observed_at`, then greatest `run_id`,
#: then greatest `requested_handle`), and `samples`, the day's observations with a count. An
#: account is keyed by its id, else by its handle; the identity map (which id a handle stands
#: for) needs the marts' sightings, and every row of the bench's lake carries its id.
BARE_DAILY_SQL: Final = """
with counted as (
    select
        *,
        cast(timezone('UTC', observed_at) as date) as day,
        platform || ':' || coalesce(
            account_id, '@' || lower(ltrim(coalesce(requested_handle, handle), '@'))
        ) as account_key
    from read_parquet($files)
    where followers is not null
),
daily as (
    select
        day,
        platform,
        account_key,
        arg_max(
            struct_pack(
                account_id, handle, followers, following, posts, observed_at, source, run_id
            ),
            (observed_at, run_id, requested_handle)
        ) as last,
        count(*) as samples
    from counted
    group by day, platform, account_key
)
select day, platform, account_key, last.*, samples from daily
"""

#: What makes two `daily_followers` results equal here: rows, sums, and an order-free hash.
CHECKSUM_SQL: Final = """
select
    count(*) as rows,
    sum(followers) as followers,
    sum(samples) as samples,
    bit_xor(hash(account_key, day, followers, observed_at, run_id, samples)) as digest
from {relation}
"""


@dataclasses.dataclass(frozen=True, slots=True)
class Fleet:
    """The generated accounts: who is on which platform, and their hourly trajectories."""

    accounts: int

    def platforms(self) -> list[tuple[str, int, int]]:
        """(platform, first account, end account) for each platform with accounts."""
        cut = int(self.accounts * X_SHARE)
        spans = [("x", 0, cut), ("bluesky", cut, self.accounts)]
        return [(platform, first, end) for platform, first, end in spans if first < end]

    def watchlist_text(self) -> str:
        handles = {
            index: f"acct{index}" if platform == "x" else f"acct{index}.bsky.test"
            for platform, first, end in self.platforms()
            for index in range(first, end)
        }
        lines = ["brands:"]
        brands = (self.accounts + BRAND_SIZE - 1) // BRAND_SIZE
        for brand in range(brands):
            members = range(brand * BRAND_SIZE, min(self.accounts, (brand + 1) * BRAND_SIZE))
            lines.append(f"  Brand{brand}:")
            for platform, first, end in self.platforms():
                mine = [handles[i] for i in members if first <= i < end]
                if mine:
                    lines.append(f"    {platform}: [{', '.join(mine)}]")
        lines.append("landscapes:")
        for start in range(0, brands, LANDSCAPE_SIZE):
            names = [f"Brand{b}" for b in range(start, min(brands, start + LANDSCAPE_SIZE))]
            lines.append(f"  Landscape{start // LANDSCAPE_SIZE}: [{', '.join(names)}]")
        return "\n".join(lines) + "\n"

    def rows_sql(self, platform: str, first: int, end: int) -> str:
        """SQL for the observations of hourly runs `$first_hour` to `$first_hour + $hours`
        from `$start`, with the lake's columns and types, plus the partition `date`."""
        account_id = (
            "cast(10000 + account as varchar)" if platform == "x" else "'did:plc:acct' || account"
        )
        handle = "'acct' || account" if platform == "x" else "'acct' || account || '.bsky.test'"
        rows = f"""
            select
                strftime(run_at, '%Y%m%dT%H%M%SZ') || '-bench' as run_id,
                run_at + to_milliseconds(account % 1000) as observed_at,
                '{platform}' as platform,
                {handle} as handle,
                {account_id} as account_id,
                'Account ' || account as display_name,
                greatest(0, 1000 + (account * 7919) % 1000000
                    + cast(((account % 50) - 10) * hour / 10 as bigint)
                    + ((account * 31 + hour * 17) % 11) - 5) as followers,
                100 + account % 300 as following,
                hour // 4 + account as posts,
                'ok' as status,
                null as detail,
                'emulator' as source,
                {handle} as requested_handle,
                null as shard,
                cast(run_at as date) as date
            from (
                select hour, $start + to_hours(hour) as run_at
                from range($first_hour, $first_hour + $hours) as hours(hour)
            ) as runs
            cross join range({first}, {end}) as accounts(account)
        """
        casts = ", ".join(f"cast({name} as {kind}) as {name}" for name, kind in OBSERVATION_COLUMNS)
        return f"select {casts}, date from ({rows}) order by date, observed_at"


def _connect() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("set TimeZone = 'UTC'")
    connection.execute("set enable_progress_bar = false")
    return connection


#: Days of history each `write_deltalake` of the generator writes (per platform): delta-rs
#: holds every partition's file in memory until the write ends (92 days of 2,000 accounts
#: peaked at 2 GB RSS), so memory stays bounded; a 5-year lake is ~120 versions.
CHUNK_DAYS: Final = 31


def generate_history(lake: DeltaLake, fleet: Fleet, start: datetime, hours: int) -> int:
    """Hourly runs of every account from `start`, appended to the observations Delta table
    (created with the lake's own configuration) partitioned by platform and UTC day, one
    file per platform and day: the layout compaction leaves. Returns the number of
    observations."""
    schema = OBSERVATIONS.table_schema
    lake.table(OBSERVATIONS)
    # Chunks end at UTC midnight, so that no day is split over two writes (two files).
    midnight = (24 - start.hour) % 24  # history starts on the hour
    cuts = sorted({0, hours, *range(midnight, hours, CHUNK_DAYS * 24)})
    with _connect() as connection:
        for platform, first, end in fleet.platforms():
            for first_hour, end_hour in itertools.pairwise(cuts):
                rows = connection.sql(
                    fleet.rows_sql(platform, first, end),
                    params={
                        "start": start,
                        "first_hour": first_hour,
                        "hours": end_hour - first_hour,
                    },
                ).to_arrow_reader(1 << 16)
                batches = (batch.cast(schema) for batch in rows)
                write_deltalake(
                    lake.table_uri(OBSERVATIONS),
                    pa.RecordBatchReader.from_batches(schema, batches),
                    mode="append",
                    storage_options=lake.storage_options,
                    commit_properties=commit_properties(),
                )
    return fleet.accounts * hours


def land_run(lake: DeltaLake, fleet: Fleet, start: datetime, hour: int) -> None:
    """One new hourly snapshot run of every account, landed as a run lands
    (`landing.write_observations`: one commit per platform)."""
    run_at = start + timedelta(hours=hour)
    with _connect() as connection:
        for platform, first, end in fleet.platforms():
            table = connection.sql(
                fleet.rows_sql(platform, first, end),
                params={"start": start, "first_hour": hour, "hours": 1},
            ).to_arrow_table()
            rows = [Observation(**row) for row in table.drop_columns(["date"]).to_pylist()]
            landing.write_observations(lake, platform, rows[0].run_id, run_at, rows)


@dataclasses.dataclass(frozen=True, slots=True)
class Timing:
    """Wall-clock and CPU seconds (all threads) of one action."""

    wall: float
    cpu: float


def _timed(action: Callable[[], object]) -> Timing:
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return Timing(time.perf_counter() - wall, time.process_time() - cpu)


def _median(timings: list[Timing]) -> Timing:
    return Timing(
        statistics.median(t.wall for t in timings), statistics.median(t.cpu for t in timings)
    )


#: History ends at noon of the last day; new runs land on that day, each after the last.
HISTORY_END: Final = datetime.combine(date(2026, 11, 26), datetime.min.time(), tzinfo=UTC) + (
    timedelta(hours=12)
)


class BenchLake:
    """A generated lake and its warehouse, refreshed whole once."""

    def __init__(self, folder: Path, accounts: int, days: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.fleet = Fleet(accounts)
        self.days = days
        (folder / "watchlist.yaml").write_text(self.fleet.watchlist_text())
        self.watchlist: Watchlist = load_watchlist(folder / "watchlist.yaml")
        self.warehouse = folder / "warehouse"
        self.layout = WarehouseLayout.at(self.warehouse)
        self.lake = delta_lake_of(self.layout)
        self.start = HISTORY_END - timedelta(days=days)
        self.hours = days * 24
        self.runs = 0
        self.observations = generate_history(self.lake, self.fleet, self.start, self.hours)
        files = Counter(
            (file.platform, file.day) for file in self.lake.snapshot(OBSERVATIONS).files
        )
        assert set(files.values()) == {1}, f"files per platform and day: {set(files.values())}"

    def refresh_full(self) -> tuple[Timing, RefreshReport]:
        """`refresh --full`: every mart rebuilt from the whole lake; its report."""
        reports: list[RefreshReport] = []
        timing = _timed(lambda: reports.append(refresh(self.layout, self.watchlist, full=True)))
        return timing, reports[0]

    def bare_daily_followers(self, repeat: int = 3) -> Timing:
        """The median time of `BARE_DAILY_SQL` over the observations table's current files
        (to an Arrow table, as a model's rows are), after checking that its result equals the
        `daily_followers` mart: the same rows and checksum."""
        files = [file.path for file in self.lake.snapshot(OBSERVATIONS).files]
        with _connect() as connection:
            bare = connection.sql(BARE_DAILY_SQL, params={"files": files}).to_arrow_table()
            connection.register("bare_daily", bare)
            expected = connection.sql(CHECKSUM_SQL.format(relation="bare_daily")).fetchall()
        with duckdb.connect(str(self.layout.catalog), read_only=True) as catalog:
            catalog.execute("set TimeZone = 'UTC'")
            catalog.execute("set enable_progress_bar = false")
            marts = catalog.sql(CHECKSUM_SQL.format(relation="daily_followers")).fetchall()
        assert expected == marts, f"bare daily_followers {expected} != the mart's {marts}"
        timings = []
        for _ in range(repeat):
            with _connect() as connection:

                def compute(connection: duckdb.DuckDBPyConnection = connection) -> None:
                    connection.sql(BARE_DAILY_SQL, params={"files": files}).to_arrow_table()

                timings.append(_timed(compute))
        return _median(timings)

    def refresh_after_new_run(self) -> Timing:
        """Land one more hourly run, then time `refresh` (incremental)."""
        land_run(self.lake, self.fleet, self.start, self.hours + self.runs)
        self.runs += 1
        return _timed(lambda: refresh(self.layout, self.watchlist))

    def read_latest_growth(self, repeat: int = 7) -> float:
        """Best time, in ms, to read every account's latest growth through the catalog."""
        with duckdb.connect(str(self.layout.catalog), read_only=True) as connection:
            rows = connection.sql(LATEST_GROWTH_SQL).fetchall()
            assert len(rows) == self.fleet.accounts, f"{len(rows)} rows of latest growth"
            reads = [
                _timed(lambda: connection.sql(LATEST_GROWTH_SQL).fetchall()) for _ in range(repeat)
            ]
        return min(read.wall for read in reads) * 1000

    def read_latest_growth_raw(self, repeat: int = 3) -> float:
        """Best time, in ms, to answer the same from the raw observations."""
        with duckdb.connect(str(self.layout.catalog), read_only=True) as connection:
            reads = [
                _timed(lambda: connection.sql(RAW_LATEST_GROWTH_SQL).fetchall())
                for _ in range(repeat)
            ]
        return min(read.wall for read in reads) * 1000


def run(quick: bool = False, runs: int = 5) -> dict[str, float]:
    """Print and return the refresh figures and their ratios.

    Both lakes exist at once and their incremental refreshes alternate, so that a change in
    the machine's load (it is shared) weighs on both alike; medians are reported, wall-clock
    and CPU (all threads).
    """
    accounts, days = (200, 30) if quick else (FULL_ACCOUNTS, FULL_DAYS)
    with tempfile.TemporaryDirectory(prefix="bench-refresh-") as folder:
        lakes = [BenchLake(Path(folder) / f"{span}d", accounts, span) for span in (days, 5 * days)]
        full: dict[int, Timing] = {}
        steps: dict[int, tuple[tuple[str, float], ...]] = {}
        bare: Timing | None = None
        for lake in lakes:
            full[lake.days], report_full = lake.refresh_full()
            steps[lake.days] = report_full.steps
            if bare is None:
                # The bare query right after the full refresh it is compared with (the
                # machine's load moves), on the same files.
                bare = lake.bare_daily_followers()
        assert bare is not None
        incremental: dict[int, list[Timing]] = {lake.days: [] for lake in lakes}
        for _ in range(runs):
            for lake in lakes:
                incremental[lake.days].append(lake.refresh_after_new_run())
        latest = {lake.days: lake.read_latest_growth() for lake in lakes}
        raw = {lake.days: lake.read_latest_growth_raw() for lake in lakes}
        observations = {lake.days: lake.observations for lake in lakes}

    figures: dict[str, float] = {}
    for span, timings in incremental.items():
        one = _median(timings)
        ratio = full[span].wall / one.wall
        print(
            f"refresh: {accounts:,} accounts x hourly x {span} days "
            f"({observations[span]:,} observations): refresh --full {full[span].wall:.2f} s, "
            f"refresh after one new run {one.wall:.3f} s (cpu {one.cpu:.3f} s, median of "
            f"{runs}): {ratio:.1f}x faster (target >= 20x; issue 15: >= "
            f"{SPEEDUP_TARGET:.0f}x at one year); every account's latest growth "
            f"read in {latest[span]:.1f} ms (target < 50 ms) from the marts, "
            f"{raw[span]:.0f} ms from the raw observations ({raw[span] / latest[span]:.0f}x)"
        )
        figures[f"full_s_{span}d"] = full[span].wall
        figures[f"incremental_s_{span}d"] = one.wall
        figures[f"incremental_cpu_s_{span}d"] = one.cpu
        figures[f"ratio_{span}d"] = ratio
        figures[f"latest_growth_ms_{span}d"] = latest[span]
        figures[f"latest_growth_raw_ms_{span}d"] = raw[span]
    small, large = days, 5 * days
    growth = figures[f"incremental_s_{large}d"] / figures[f"incremental_s_{small}d"]
    growth_cpu = figures[f"incremental_cpu_s_{large}d"] / figures[f"incremental_cpu_s_{small}d"]
    print(
        f"refresh: after one new run, {large} days of history vs {small}: {growth:.2f}x "
        f"(cpu {growth_cpu:.2f}x; target <= 1.5x; issue 15: <= {GROWTH_TARGET}x: "
        f"{_verdict(growth <= GROWTH_TARGET, quick)})"
    )
    speedup = figures[f"ratio_{small}d"]
    print(
        f"refresh: incremental vs full at {small} days: {speedup:.1f}x faster (issue 15 target "
        f">= {SPEEDUP_TARGET:.0f}x: {_verdict(speedup >= SPEEDUP_TARGET, quick)})"
    )
    figures.update(_against_bare(full[small], bare, steps[small], accounts, small, quick=quick))
    figures.update(_against_today(figures, {365: small, 1825: large}, quick=quick))
    if quick:
        print("refresh: (--quick: sizes too small for the targets, which are for the full run)")
    figures["incremental_growth_ratio"] = growth
    figures["incremental_growth_ratio_cpu"] = growth_cpu
    return figures


def _verdict(met: bool, quick: bool) -> str:
    if quick:
        return "--quick: not comparable"
    return "meets it" if met else "misses it"


def _against_bare(
    full: Timing,
    bare: Timing,
    steps: tuple[tuple[str, float], ...],
    accounts: int,
    days: int,
    *,
    quick: bool,
) -> dict[str, float]:
    """Print and return `refresh --full` against the bare query, and where the refresh's
    time went (its costliest steps)."""
    ratio = full.wall / bare.wall
    print(
        f"refresh --full vs a bare DuckDB query computing daily_followers from the same "
        f"files ({accounts:,} accounts x {days} days; same rows and checksum as the mart): "
        f"{full.wall:.2f} s vs {bare.wall:.2f} s (median of 3) -> {ratio:.1f}x (issue 15 target "
        f"<= {BARE_TARGET:.0f}x: {_verdict(ratio <= BARE_TARGET, quick)})"
    )
    counted = sum(seconds for _, seconds in steps)
    shown = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in steps[:TOP_STEPS])
    print(
        f"refresh --full at {days} days, costliest steps ({counted:.2f} s of {full.wall:.2f} s "
        f"timed by step): {shown}"
    )
    figures = {"bare_daily_s": bare.wall, "full_vs_bare": ratio}
    figures.update({f"step_s_{name}": seconds for name, seconds in steps[:TOP_STEPS]})
    return figures


def _against_today(
    figures: dict[str, float], spans: dict[int, int], *, quick: bool
) -> dict[str, float]:
    """Print and return each figure's ratio to today's (`TODAY`), with issue 14's target;
    `spans` maps today's spans (days) to this run's (a --quick run's are shorter)."""
    ratios: dict[str, float] = {}
    for today_name, today in TODAY.items():
        kind, span = today_name.rsplit("_", 1)
        name = f"{kind}_{spans[int(span.removesuffix('d'))]}d"
        ratio = figures[name] / today
        target = FULL_TARGET if name.startswith("full") else INCREMENTAL_TARGET
        verdict = "meets it" if ratio <= target else "misses it"
        if quick:
            verdict = "--quick: not comparable"
        print(
            f"refresh vs today (Parquet lake, b42de10): {name} {figures[name]:.2f} s vs "
            f"{today:.2f} s -> {ratio:.2f}x (target <= {target}x: {verdict})"
        )
        ratios[f"{name}_vs_today"] = ratio
    return ratios
