"""Bring the marts up to date with the lake, touching only what new lake files change.

`refresh` compares the lake with the files the marts already reflect (kept in the warehouse
state). New files give the UTC days to recompute. State models merge the new observations
into their previous rows. Each daily model recomputes the days that changed upstream (plus
its reach), merges them into its month files and leaves every other month alone. Snapshot
models are rebuilt whole from those. `full=True` starts from an empty state and so
recomputes everything, through the very same code: both paths must give identical marts.

Marts also depend on inputs other than the lake: the models' SQL, the seeds, the parameters
and the watchlist (brands, landscapes, and the accounts its handles resolve to). A digest of
them is kept in the state; when it changes, what it feeds is rebuilt rather than mixed with
rows computed from the old inputs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta

import pyarrow as pa
import pyarrow.parquet as pq

from followerledger import locks
from followerledger.catalog import publish
from followerledger.lake import Lake, LakeFile
from followerledger.layout import WarehouseLayout
from followerledger.manifest import BuildManifest, ManifestStore
from followerledger.models import (
    ALL_MODELS,
    DAILY,
    INCREMENTAL,
    LAKE_DATASETS,
    SEEDS,
    SNAPSHOT,
    Model,
    with_defaults,
)
from followerledger.models.duckdb_sql import sql_text
from followerledger.models.session import ModelSession, model_columns, watchlist_tables
from followerledger.sources.http import utc_now
from followerledger.watchlist import Watchlist

#: Days closer than this are recomputed in one query rather than several.
_MERGE_GAP_DAYS = 7


@dataclasses.dataclass(frozen=True, slots=True)
class RefreshReport:
    """What one refresh did."""

    full: bool
    new_files: int
    days_recomputed: int
    files_written: int
    seconds: float

    def describe(self) -> str:
        """One line saying what the refresh did."""
        kind = "full rebuild" if self.full else "incremental"
        return (
            f"refresh ({kind}): {self.new_files} new lake files, {self.days_recomputed} "
            f"days recomputed, {self.files_written} mart files written in {self.seconds:.2f} s"
        )


def mart_key(model: Model, version: str, month: str | None = None) -> str:
    """The key of one version of a mart file under `<warehouse>/marts`.

    Mart files are never overwritten: DuckDB may open a file more than once in one query, so
    a reader of a file replaced under its feet can mix two versions (a torn read). Each
    refresh writes new versions; the ones no catalog lists any more are deleted once the
    reader grace period has passed.
    """
    if month is None:
        return f"{model.name}/data-{version}.parquet"
    return f"{model.name}/month={month}/data-{version}.parquet"


def month_of(key: str) -> str | None:
    """The month partition a mart key belongs to (None for single-file marts)."""
    folder = key.rsplit("/", 2)[-2]
    return folder.removeprefix("month=") if folder.startswith("month=") else None


def day_ranges(days: Iterable[date], gap: int = _MERGE_GAP_DAYS) -> list[tuple[date, date]]:
    """Sorted days folded into inclusive ranges; days closer than `gap` share a range."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and (day - ranges[-1][1]).days <= gap:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def days_between(start: date, end: date) -> list[date]:
    """Every day from start to end, inclusive."""
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def inputs_digest(watchlist: Watchlist | None, parameters: Mapping[str, object]) -> str:
    """A digest of what every model is computed from besides the lake: the SQL and macros,
    the seeds, the parameters and the watchlist as written (brands, handles, landscapes)."""
    digest = hashlib.sha256()
    for model in ALL_MODELS:
        digest.update(f"{model.path}\0{model.spec}\0{model.sql}\0".encode())
    digest.update(sql_text("macros.sql").encode())
    for seed in SEEDS:
        digest.update(f"{seed.path}\0{seed.spec}\0{sql_text(seed.path)}\0".encode())
    accounts, landscapes = watchlist_tables(watchlist)
    written = {
        "parameters": sorted((name, repr(value)) for name, value in parameters.items()),
        "watchlist": sorted(tuple(row.values()) for row in accounts.to_pylist()),
        "landscapes": sorted(tuple(row.values()) for row in landscapes.to_pylist()),
    }
    digest.update(json.dumps(written, sort_keys=True).encode())
    return digest.hexdigest()


def refresh(
    layout: WarehouseLayout,
    watchlist: Watchlist | None,
    *,
    full: bool = False,
    parameters: Mapping[str, object] | None = None,
    threads: int | None = None,
    clock: Callable[[], datetime] = utc_now,
    grace: timedelta = timedelta(hours=24),
) -> RefreshReport:
    """Refresh the marts (incrementally unless `full`) and publish the catalog.

    A refresh is full anyway when the models, seeds, parameters or watchlist changed since
    the last one: the stored marts were computed from other inputs. Mart file versions the
    new catalog no longer names are deleted once `grace` has passed, so connections opened
    on an older catalog keep working that long.
    """
    started = time.perf_counter()
    lake = layout.open_lake()
    lake.sweep_leftovers(layout)
    now = clock()
    version = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    store = ManifestStore(layout)
    with locks.hold(layout, "refresh"):
        previous = store.load()
        inputs = inputs_digest(watchlist, with_defaults(parameters))
        full = full or previous.inputs.get("models") != inputs
        state = previous.lake_view() if full else previous
        state.inputs = {**state.inputs, "models": inputs}
        listed_before = {key for keys in previous.marts.values() for key in keys}
        run = _Refresh(layout, lake, state, watchlist, full, parameters, threads, version)
        try:
            run.execute()
        finally:
            run.session.close()
        listed = {key for keys in state.marts.values() for key in keys}
        state.retired = {**previous.retired, **state.retired}
        for key in listed_before - listed:
            state.retired.setdefault(key, now.isoformat())
        state.refreshed_at = now.isoformat()
        store.save(state)
        publish(layout, watchlist)
        if run.delete_retired(now - grace):
            store.save(state)
    return RefreshReport(
        full, run.new_files, len(run.touched), run.written, time.perf_counter() - started
    )


class _Refresh:
    """One refresh: the lake's files, what changed, and the models brought up to date."""

    def __init__(
        self,
        layout: WarehouseLayout,
        lake: Lake,
        state: BuildManifest,
        watchlist: Watchlist | None,
        full: bool,
        parameters: Mapping[str, object] | None,
        threads: int | None,
        version: str,
    ) -> None:
        self.lake = lake
        self.version = version
        self.marts = layout.open_marts()
        self.state = state
        self.full = full
        self.session = ModelSession(threads, parameters)
        self.session.bind_watchlist(watchlist)
        self.session.bind_seeds()
        self.files = {dataset: state.current(lake, dataset) for dataset in LAKE_DATASETS}
        current = {f.key: (f.size, f.mtime_ns) for files in self.files.values() for f in files}
        self.file_days = {f.key: f.day for files in self.files.values() for f in files}
        self.added = {
            dataset: [f for f in files if state.lake_files.get(f.key) != current[f.key]]
            for dataset, files in self.files.items()
        }
        self.vanished = [key for key, seen in state.lake_files.items() if current.get(key) != seen]
        self.current = current
        self.new_files = sum(len(files) for files in self.added.values())
        self.touched: set[date] = set()
        self.written = 0
        #: Every day of every daily model is recomputed (a full refresh, or new inputs).
        self.rebuild_daily = full

    def execute(self) -> None:
        """Bring state, daily and snapshot models up to date."""
        changed = self.full or self.new_files > 0 or bool(self.vanished)
        have_state = all(self.state.marts.get(m.name) for m in INCREMENTAL)
        if changed or not have_state:
            self._refresh_state(rebuild=self.full or bool(self.vanished) or not have_state)
        else:
            self._bind_stored(INCREMENTAL)
            self._bind_lake(date.max, date.max)
            self.session.create_staging()
        self._check_watched_accounts()
        self._bind_stored(DAILY)
        if self.touched or self.rebuild_daily:
            self._refresh_daily()
        self._refresh_snapshots()
        self.state.lake_files = self.current

    def _check_watched_accounts(self) -> None:
        """Rebuild the daily models when a watched handle that stood for one account now
        stands for another (a handle taken over): brand membership changed on every day.

        A handle resolving for the first time needs nothing more: its unresolved history is
        re-keyed day by day (`unresolved_handles`), and the brand's account count is the same.
        """
        rows = self.session.query(
            "select platform, handle_key, account_key from watched_accounts "
            "where account_key not like platform || ':@%' order by all"
        ).to_pylist()
        resolved = {f"{row['platform']}:{row['handle_key']}": row["account_key"] for row in rows}
        before: dict[str, str] = json.loads(self.state.inputs.get("watched_accounts", "{}"))
        if any(resolved.get(entry, account) != account for entry, account in before.items()):
            self.rebuild_daily = True
            for model in DAILY:
                self.state.marts[model.name] = []
        self.state.inputs["watched_accounts"] = json.dumps(resolved, sort_keys=True)

    def _paths(self, files: Sequence[LakeFile]) -> list[str]:
        return [self.lake.path(f.key) for f in files]

    def _bind_stored(self, models: Sequence[Model]) -> None:
        """Bind models as stored (their current mart files)."""
        columns = model_columns()
        for model in models:
            paths = [self.marts.path(k) for k in self.state.marts.get(model.name, [])]
            self.session.bind_parquet(
                model.name,
                paths,
                model.columns if model.kind == "incremental" else columns[model.name],
                one_schema=True,
            )

    def _bind_lake(self, start: date | None = None, end: date | None = None) -> None:
        """Every lake dataset, limited to the partitions from `start` to `end`."""
        for dataset, files in self.files.items():
            chosen = [
                f
                for f in files
                if (start is None or self.file_days[f.key] >= start)
                and (end is None or self.file_days[f.key] <= end)
            ]
            self.session.bind_dataset(dataset, self._paths(chosen))

    def _identity(self) -> dict[tuple[str, str], str]:
        rows = self.session.query(
            "select platform, handle_key, account_id from identity_map"
        ).to_pylist()
        return {(row["platform"], row["handle_key"]): row["account_id"] for row in rows}

    def _refresh_state(self, rebuild: bool) -> None:
        """Update the state models; collect the UTC days whose daily rows must change."""
        session = self.session
        if rebuild:
            for model in INCREMENTAL:
                session.bind_parquet(model.name, [], model.columns)
        else:
            self._bind_stored(INCREMENTAL)
        self._bind_lake(date.max, date.max)  # staging needs `observations`; none are read here
        session.create_staging()
        # The identity map as it was, to find handles that resolve differently now.
        identity_before = {} if rebuild else self._identity()

        observations = self.files["observations"] if rebuild else self.added["observations"]
        session.bind_observations("new_observations", self._paths(observations))
        for model in INCREMENTAL:
            previous = [] if rebuild else self.state.marts.get(model.name, [])
            session.bind_parquet(
                f"{model.name}_previous", [self.marts.path(k) for k in previous], model.columns
            )
            table = session.run(model)
            key = mart_key(model, self.version)
            self.marts.write(key, table)
            self.written += 1
            self.state.marts[model.name] = [key]
            session.bind_table(model.name, table)
        session.create_staging()

        session.bind_observations("added_observations", self._paths(self.added["observations"]))
        self.touched = {
            row["day"]
            for row in session.query(
                "select distinct utc_day(observed_at) as day from added_observations"
            ).to_pylist()
        }
        for dataset, files in self.added.items():
            if dataset != "observations":
                self.touched.update(f.day for f in files)
        # A replaced or removed file: its partition day and the next (a run that started
        # before midnight may hold rows of the following day).
        for key in self.vanished:
            day = LakeFile(key, 0, 0).day
            self.touched.update({day, day + timedelta(days=1)})
        # Handles that now resolve to a different (or a first) account: re-key their history.
        identity_after = self._identity()
        remapped = {
            key for key, account in identity_after.items() if identity_before.get(key) != account
        }
        if remapped:
            for span in session.query(
                "select platform, handle_key, first_day, last_day from unresolved_handles"
            ).to_pylist():
                if (span["platform"], span["handle_key"]) in remapped:
                    self.touched.update(days_between(span["first_day"], span["last_day"]))

    def _refresh_daily(self) -> None:
        """Recompute each daily model's changed days (plus reach) and merge them by month."""
        partition_days = list(self.file_days.values())
        if not partition_days and not self.touched:
            return
        first_day = min(partition_days + list(self.touched))
        last_day = max(partition_days + list(self.touched)) + timedelta(days=1)
        recomputed: dict[str, set[date]] = {}
        for model in DAILY:
            if self.rebuild_daily:
                days = set(days_between(first_day, last_day))
            else:
                upstream: set[date] = set()
                for name in model.depends_on:
                    upstream |= (
                        self.touched if name in LAKE_DATASETS else recomputed.get(name, set())
                    )
                reach = timedelta(days=model.reach(self.session.parameters))
                days = set()
                for day in upstream:
                    days.update(days_between(day, min(last_day, day + reach)))
            recomputed[model.name] = days
            if not days:
                continue
            ranges = [(min(days), max(days))] if self.rebuild_daily else day_ranges(days)
            results = []
            for start, end in ranges:
                # Rows of day D live in partition D, or D-1 for a run begun before midnight.
                self._bind_lake(start - timedelta(days=1 + model.lookback_days), end)
                self.session.create_staging()
                results.append(self.session.run(model, (start, end)))
            fresh = pa.concat_tables(results, promote_options="default")
            covered = sorted({day for start, end in ranges for day in days_between(start, end)})
            self._merge_months(model, fresh, covered)
            self._bind_stored([model])

    def _merge_months(self, model: Model, fresh: pa.Table, covered: list[date]) -> None:
        """Replace the covered days in each affected month file; other months stay."""
        months = sorted({day.strftime("%Y-%m") for day in covered})
        fresh_months = {day.strftime("%Y-%m") for day in fresh.column("day").unique().to_pylist()}
        existing = {month_of(key): key for key in self.state.marts.get(model.name, [])}
        session = self.session
        session.bind_table("fresh_rows", fresh)
        session.bind_table("covered_days", pa.table({"day": pa.array(covered, pa.date32())}))
        for month in months:
            stored = existing.get(month)
            if month not in fresh_months and stored is None:
                continue  # nothing there before, nothing now
            first = date.fromisoformat(f"{month}-01")
            following = (first + timedelta(days=32)).replace(day=1)
            kept = ""
            if stored is not None:
                session.bind_table("kept_rows", pq.read_table(self.marts.path(stored)))
                kept = (
                    "select * from kept_rows "
                    "where day not in (select day from covered_days) union all by name "
                )
            merged = session.query(
                f"{kept}select * from fresh_rows where day >= $first and day < $following "
                "order by all",
                {"first": first, "following": following},
            )
            if merged.num_rows == 0:
                existing.pop(month, None)  # the month holds no rows any more
                continue
            key = mart_key(model, self.version, month)
            self.marts.write(key, merged)
            existing[month] = key
            self.written += 1
        self.state.marts[model.name] = sorted(existing.values())

    def _refresh_snapshots(self) -> None:
        if any(name in LAKE_DATASETS for model in SNAPSHOT for name in model.depends_on):
            self._bind_lake()
            self.session.create_staging()
        for model in SNAPSHOT:
            key = mart_key(model, self.version)
            table = self.session.run(model)
            self.marts.write(key, table)
            self.session.bind_table(model.name, table)
            self.state.marts[model.name] = [key]
            self.written += 1

    def delete_retired(self, before: datetime) -> bool:
        """Delete mart files no catalog has named since `before`, and files no state names
        at all that are older than that (left by an interrupted refresh); True if any."""
        listed = {key for keys in self.state.marts.values() for key in keys}
        deleted = False
        for key, retired_at in list(self.state.retired.items()):
            if datetime.fromisoformat(retired_at) < before:
                with contextlib.suppress(FileNotFoundError):
                    self.marts.remove(key)
                del self.state.retired[key]
                deleted = True
        cutoff = before.timestamp() * 1e9
        for model in INCREMENTAL + DAILY + SNAPSHOT:
            for item in self.marts.list(model.name):
                if (
                    item.key not in listed
                    and item.key not in self.state.retired
                    and item.mtime_ns < cutoff
                ):
                    self.marts.remove(item.key)
        return deleted
