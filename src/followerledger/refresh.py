"""Bring the marts up to date with the lake, touching only what new lake files change.

`refresh` compares the lake with the files the marts already reflect (kept in the warehouse
state). New files give the UTC days to recompute; each daily model recomputes those days plus
its reach, merges them into its month files, and leaves every other month alone. State models
merge the new observations into their previous rows; snapshot models are rebuilt from those
small relations. `full=True` starts from an empty state and so recomputes everything, through
the very same code: both paths must give identical marts.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from followerledger.catalog import publish
from followerledger.lake import Lake, LakeFile
from followerledger.models import DAILY, SNAPSHOT, STATE, Model
from followerledger.session import ModelSession
from followerledger.sources.http import utc_now
from followerledger.state import StateStore, WarehouseState
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


def mart_key(model: Model, month: str | None = None) -> str:
    """The key of a mart file under `<warehouse>/marts`."""
    if month is None:
        return f"{model.name}/data.parquet"
    return f"{model.name}/month={month}/data.parquet"


def day_ranges(days: Iterable[date], gap: int = _MERGE_GAP_DAYS) -> list[tuple[date, date]]:
    """Sorted days folded into inclusive ranges; days closer than `gap` share a range."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and (day - ranges[-1][1]).days <= gap:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def _days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def refresh(
    warehouse: Path,
    lake: Lake,
    watchlist: Watchlist | None,
    *,
    full: bool = False,
    threads: int | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> RefreshReport:
    """Refresh the marts (incrementally unless `full`) and publish the catalog."""
    started = time.perf_counter()
    store = StateStore(warehouse)
    marts = Lake(warehouse / "marts")
    with store.lock("refresh"):
        previous = store.load()
        state = WarehouseState(superseded=dict(previous.superseded)) if full else previous
        files = [f for f in lake.list() if f.key not in state.superseded]
        current = {f.key: (f.size, f.mtime_ns) for f in files}
        added = [f for f in files if state.lake_files.get(f.key) != current[f.key]]
        vanished = [key for key, seen in state.lake_files.items() if current.get(key) != seen]
        have_state = all(mart_key(model) in state.marts.get(model.name, []) for model in STATE)
        rebuild_state = full or bool(vanished) or not have_state

        session = ModelSession(threads)
        try:
            session.bind_watchlist(watchlist)
            written = 0
            if added or vanished or full or not state.marts:
                touched, written = _refresh_state(
                    session, marts, state, lake, files, added, vanished, rebuild_state
                )
                written += _refresh_daily(session, marts, state, lake, files, touched, full)
            else:
                touched = set()
                _bind_state(session, marts, state)
            written += _refresh_snapshots(session, marts, state)
        finally:
            session.close()
        state.lake_files = current
        state.refreshed_at = clock().isoformat()
        store.save(state)
        publish(warehouse, lake, watchlist)
        if full:
            _remove_unlisted(marts, state)
    return RefreshReport(full, len(added), len(touched), written, time.perf_counter() - started)


def _paths(lake: Lake, files: Sequence[LakeFile]) -> list[str]:
    return [lake.path(f.key) for f in files]


def _bind_state(session: ModelSession, marts: Lake, state: WarehouseState) -> None:
    """The state models as stored, and staging views over them (no observations bound)."""
    for model in STATE:
        keys = state.marts.get(model.name, [])
        session.bind_parquet(model.name, [marts.path(k) for k in keys], model.columns)
    session.bind_observations("observations", [])
    session.create_staging()


def _identity(session: ModelSession) -> dict[tuple[str, str], str]:
    rows = session.query("select platform, handle_key, account_id from identity_map").to_pylist()
    return {(row["platform"], row["handle_key"]): row["account_id"] for row in rows}


def _refresh_state(
    session: ModelSession,
    marts: Lake,
    state: WarehouseState,
    lake: Lake,
    files: Sequence[LakeFile],
    added: Sequence[LakeFile],
    vanished: Sequence[str],
    rebuild: bool,
) -> tuple[set[date], int]:
    """Update the state models; return the UTC days whose daily rows must be recomputed."""
    # The identity map as it was, to find handles that resolve differently now.
    if rebuild:
        for model in STATE:
            session.bind_parquet(model.name, [], model.columns)
        session.bind_observations("observations", [])
        session.create_staging()
    else:
        _bind_state(session, marts, state)
    identity_before = {} if rebuild else _identity(session)

    session.bind_observations("new_observations", _paths(lake, files if rebuild else added))
    written = 0
    for model in STATE:
        previous_keys = [] if rebuild else state.marts.get(model.name, [])
        session.bind_parquet(
            f"{model.name}_previous", [marts.path(k) for k in previous_keys], model.columns
        )
        table = session.run(model)
        key = mart_key(model)
        marts.write(key, table)
        written += 1
        state.marts[model.name] = [key]
        session.bind_table(model.name, table)
    session.create_staging()

    session.bind_observations("added_observations", _paths(lake, added))
    touched = {
        row["day"]
        for row in session.query(
            "select distinct utc_day(observed_at) as day from added_observations"
        ).to_pylist()
    }
    # A replaced or removed file: its partition day and the next (a run that started before
    # midnight may hold rows of the following day).
    for key in vanished:
        day = LakeFile(key, 0, 0).day
        touched.update({day, day + timedelta(days=1)})
    # Handles that now resolve to a different (or a first) account: re-key their history.
    identity_after = _identity(session)
    remapped = [
        key for key, account in identity_after.items() if identity_before.get(key) != account
    ]
    if remapped:
        spans = session.query(
            "select platform, handle_key, first_day, last_day from unresolved_handles"
        ).to_pylist()
        wanted = set(remapped)
        for span in spans:
            if (span["platform"], span["handle_key"]) in wanted:
                touched.update(_days_between(span["first_day"], span["last_day"]))
    return touched, written


def _refresh_daily(
    session: ModelSession,
    marts: Lake,
    state: WarehouseState,
    lake: Lake,
    files: Sequence[LakeFile],
    touched: set[date],
    full: bool,
) -> int:
    """Recompute the touched days (plus reach) of every daily model; merge by month."""
    if not touched:
        for model in DAILY:
            state.marts.setdefault(model.name, [])
        return 0
    last_day = max(max(touched), max((f.day for f in files), default=max(touched)))
    written = 0
    for model in DAILY:
        days = set(touched)
        for day in touched:
            days.update(_days_between(day, min(last_day, day + timedelta(days=model.reach_days))))
        ranges = [(min(days), max(days))] if full else day_ranges(days)
        results = []
        for start, end in ranges:
            # Rows of day D live in partition D, or D-1 for a run that began before midnight.
            needed = [f for f in files if start - timedelta(days=1) <= f.day <= end]
            session.bind_observations("observations", _paths(lake, needed))
            session.create_staging()
            results.append(session.run(model, {"start_day": start, "end_day": end}))
        fresh = pa.concat_tables(results, promote_options="default")
        recomputed = sorted({day for start, end in ranges for day in _days_between(start, end)})
        written += _merge_months(session, marts, state, model, fresh, recomputed)
    return written


def _merge_months(
    session: ModelSession,
    marts: Lake,
    state: WarehouseState,
    model: Model,
    fresh: pa.Table,
    recomputed: list[date],
) -> int:
    """Replace the recomputed days in each affected month file; other months stay as they are."""
    months = sorted({day.strftime("%Y-%m") for day in recomputed})
    existing = set(state.marts.get(model.name, []))
    session.bind_table("fresh_rows", fresh)
    session.bind_table("recomputed_days", pa.table({"day": pa.array(recomputed, pa.date32())}))
    written = 0
    for month in months:
        key = mart_key(model, month)
        first = date.fromisoformat(f"{month}-01")
        following = (first + timedelta(days=32)).replace(day=1)
        if key in existing:
            session.bind_table("kept_rows", pq.read_table(marts.path(key)))
            kept = (
                "select * from kept_rows "
                "where day not in (select day from recomputed_days) union all by name "
            )
        else:
            kept = ""
        merged = session.query(
            f"{kept}select * from fresh_rows where day >= $first and day < $following order by all",
            {"first": first, "following": following},
        )
        if merged.num_rows == 0 and key not in existing:
            continue
        marts.write(key, merged)
        existing.add(key)
        written += 1
    state.marts[model.name] = sorted(existing)
    return written


def _refresh_snapshots(session: ModelSession, marts: Lake, state: WarehouseState) -> int:
    for model in SNAPSHOT:
        key = mart_key(model)
        marts.write(key, session.run(model))
        state.marts[model.name] = [key]
    return len(SNAPSHOT)


def _remove_unlisted(marts: Lake, state: WarehouseState) -> None:
    """After a full rebuild, delete mart files no relation lists any more."""
    listed = {key for keys in state.marts.values() for key in keys}
    for model in STATE + DAILY + SNAPSHOT:
        for item in marts.list(model.name):
            if item.key not in listed:
                marts.remove(item.key)
