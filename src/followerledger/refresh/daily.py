"""The daily models: each one's changed days (plus its reach) recomputed and merged into its
month files; every other month is left alone."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from followerledger.models import DAILY, LAKE_DATASETS, Model
from followerledger.refresh.days import day_ranges, days_between
from followerledger.refresh.mart_build import MartBuild, month_of


def refresh_daily(build: MartBuild, touched: set[date], rebuild: bool) -> None:
    """Recompute each daily model's changed days (every day when `rebuild`) and merge them
    by month."""
    partition_days = list(build.changes.file_days.values())
    if not partition_days and not touched:
        return
    first_day = min(partition_days + list(touched))
    last_day = max(partition_days + list(touched)) + timedelta(days=1)
    recomputed: dict[str, set[date]] = {}
    for model in DAILY:
        if rebuild:
            days = set(days_between(first_day, last_day))
        else:
            days = _days_to_recompute(build, model, touched, recomputed, last_day)
        recomputed[model.name] = days
        if not days:
            continue
        ranges = [(min(days), max(days))] if rebuild else day_ranges(days)
        results = []
        for start, end in ranges:
            # Rows of day D live in partition D, or D-1 for a run begun before midnight.
            build.bind_lake(start - timedelta(days=1 + model.lookback_days), end)
            build.session.create_staging()
            with build.timed(model.name):
                results.append(build.session.run(model, (start, end)))
        fresh = pa.concat_tables(results, promote_options="default")
        covered = sorted({day for start, end in ranges for day in days_between(start, end)})
        merge_months(build, model, fresh, covered)
        build.bind_stored([model])


def _days_to_recompute(
    build: MartBuild,
    model: Model,
    touched: set[date],
    recomputed: Mapping[str, set[date]],
    last_day: date,
) -> set[date]:
    """The days upstream of `model` that changed, each expanded by the model's reach."""
    upstream: set[date] = set()
    for name in model.depends_on:
        upstream |= touched if name in LAKE_DATASETS else recomputed.get(name, set())
    reach = timedelta(days=model.reach(build.session.parameters))
    days: set[date] = set()
    for day in upstream:
        days.update(days_between(day, min(last_day, day + reach)))
    return days


def merge_months(build: MartBuild, model: Model, fresh: pa.Table, covered: list[date]) -> None:
    """Replace the covered days in each affected month file; other months stay."""
    months = sorted({day.strftime("%Y-%m") for day in covered})
    fresh_months = {day.strftime("%Y-%m") for day in fresh.column("day").unique().to_pylist()}
    existing = {month_of(key): key for key in build.state.marts.get(model.name, [])}
    session = build.session
    session.bind_table("fresh_rows", fresh)
    session.bind_table("covered_days", pa.table({"day": pa.array(covered, pa.date32())}))
    for month in months:
        stored = existing.get(month)
        if month not in fresh_months and stored is None:
            continue  # nothing there before, nothing now
        first = date.fromisoformat(f"{month}-01")
        following = (first + timedelta(days=32)).replace(day=1)
        kept = ""
        with build.timed(f"{model.name} (merge months)"):
            if stored is not None:
                session.bind_table("kept_rows", pq.read_table(build.marts.path(stored)))
                kept = (
                    "select * from kept_rows "
                    "where day not in (select day from covered_days) union all by name "
                )
            merged = session.query(
                f"{kept}select * from fresh_rows "
                "where day >= $first and day < $following order by all",
                {"first": first, "following": following},
            )
        if merged.num_rows == 0:
            existing.pop(month, None)  # the month holds no rows any more
            continue
        existing[month] = build.write(model, merged, month)
    build.state.marts[model.name] = sorted(existing.values())
