"""Bring the marts up to date with the lake, touching only what new lake files change.

`refresh` compares the files the lake's Delta tables name at their latest versions (read from
their logs) with the files the marts already reflect (kept in the warehouse manifest, with the
versions they were read at). New files give the UTC days to recompute. Incremental models
merge the new observations into their previous rows. Each daily model recomputes the days
that changed upstream (plus its reach), merges them into its month files and leaves every
other month alone. Snapshot models are rebuilt whole from those. `full=True` starts from an
empty manifest and so recomputes everything, through the very same code: both paths must give
identical marts.

Marts also depend on inputs other than the lake: the models' SQL, the seeds, the parameters
and the watchlist (brands, landscapes, and the accounts its handles resolve to). A digest of
them is kept in the manifest; when it changes, what it feeds is rebuilt rather than mixed with
rows computed from the old inputs.

One module per job: `changes` (what changed, which days to recompute), `incremental`,
`daily` (the month files merge), `snapshots`, `retired` (deleting mart files no catalog
names); `mart_build` holds the session and writes the mart files, `days` the day arithmetic.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta

from followerledger import locks, progress
from followerledger.catalog import publish
from followerledger.clock import utc_now
from followerledger.delta_lake import delta_lake_of
from followerledger.layout import WarehouseLayout
from followerledger.leftovers import sweep_warehouse
from followerledger.manifest import BuildManifest, ManifestStore
from followerledger.models import DAILY, INCREMENTAL, with_defaults
from followerledger.refresh.changes import handle_taken_over, inputs_digest
from followerledger.refresh.daily import refresh_daily
from followerledger.refresh.days import day_ranges, days_between
from followerledger.refresh.incremental import bind_incremental, refresh_incremental
from followerledger.refresh.mart_build import MartBuild, mart_key, month_of
from followerledger.refresh.retired import delete_retired, listed_keys, retire
from followerledger.refresh.snapshots import refresh_snapshots
from followerledger.watchlist import Watchlist

__all__ = [
    "RefreshReport",
    "day_ranges",
    "days_between",
    "inputs_digest",
    "mart_key",
    "month_of",
    "refresh",
]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class RefreshReport:
    """What one refresh did."""

    full: bool
    new_files: int
    days_recomputed: int
    files_written: int
    seconds: float
    #: Wall seconds per step, costliest first: each model's SQL under its name, its mart
    #: files under "<name> (write)", a daily model's month merges under
    #: "<name> (merge months)", and "lake changes", "touched days", "publish catalog".
    steps: tuple[tuple[str, float], ...] = ()

    def describe(self) -> str:
        """One line saying what the refresh did."""
        kind = "full rebuild" if self.full else "incremental"
        return (
            f"refresh ({kind}): {self.new_files} new lake files, {self.days_recomputed} "
            f"days recomputed, {self.files_written} mart files written in {self.seconds:.2f} s"
        )


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
    lake = delta_lake_of(layout)
    sweep_warehouse(layout)
    now = clock()
    version = f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    store = ManifestStore(layout)
    with locks.hold(layout, "refresh"):
        previous = store.load()
        inputs = inputs_digest(watchlist, with_defaults(parameters))
        full = full or previous.inputs.get("models") != inputs
        state = BuildManifest() if full else previous
        state.inputs = {**state.inputs, "models": inputs}
        listed_before = listed_keys(previous)
        progress.step("refresh: reading the lake's changes")
        changes_started = time.perf_counter()
        build = MartBuild(layout, lake, state, watchlist, parameters, threads, version)
        build.seconds["lake changes"] = time.perf_counter() - changes_started
        try:
            touched = _update_marts(build, full)
        finally:
            build.session.close()
        retire(previous, state, listed_before, now)
        state.refreshed_at = now.isoformat()
        store.save(state)
        progress.step("refresh: publishing the catalog")
        with build.timed("publish catalog"):
            publish(layout, watchlist)
        if delete_retired(build.marts, state, now - grace):
            store.save(state)
    steps = tuple(sorted(build.seconds.items(), key=lambda step: -step[1]))
    for name, seconds in steps:
        logger.debug("refresh step %s: %.3f s", name, seconds)
    return RefreshReport(
        full,
        build.changes.new_files,
        len(touched),
        build.written,
        time.perf_counter() - started,
        steps,
    )


def _update_marts(build: MartBuild, full: bool) -> set[date]:
    """Bring the incremental, daily and snapshot models up to date; the days recomputed."""
    changes, state = build.changes, build.state
    changed = full or changes.new_files > 0 or bool(changes.vanished)
    have_state = all(state.marts.get(m.name) for m in INCREMENTAL)
    touched: set[date] = set()
    progress.step("refresh: incremental models")
    if changed or not have_state:
        touched = refresh_incremental(build, full or bool(changes.vanished) or not have_state)
    else:
        bind_incremental(build)
    # Every day of every daily model is recomputed: a full refresh, new inputs, or a handle
    # taken over.
    rebuild_daily = handle_taken_over(build.session, state) or full
    build.bind_stored(DAILY)
    progress.step("refresh: daily models")
    if touched or rebuild_daily:
        refresh_daily(build, touched, rebuild_daily)
    progress.step("refresh: snapshot models")
    refresh_snapshots(build)
    state.lake_files = changes.current
    state.lake_versions = changes.versions
    return touched
