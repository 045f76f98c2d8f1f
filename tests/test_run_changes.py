"""A run's changes reduced in SQL (`run_changes.run_changes`) give exactly what the Python
reduction of every account's changes gives: the same movers (ties included), the same
accounts without a count, the same alerts and stale recoveries, on real Delta tables."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from followerledger import landing
from followerledger import run_changes as run_changes_module
from followerledger.alerts import evaluate
from followerledger.delta_lake import DeltaLake
from followerledger.layout import WarehouseLayout
from followerledger.models import duckdb_sql
from followerledger.observation import Observation
from followerledger.run_changes import RunChanges, account_changes, read_window, run_changes
from followerledger.watchlist import Watchlist, load_watchlist

WATCHLIST = """\
brands:
  Alpha:
    x: [alpha, Beta, gamma, delta]
    bluesky: [alpha.bsky.social, did:plc:Zeta]
  Omega:
    x: [omega, sigma]
    bluesky: [beta.bsky.social]
alerts:
  milestones: [1000, 5000]
  drop_percent: 10
  stale_hours: 6
"""
NOW = datetime(2026, 11, 10, 9, tzinfo=UTC)
#: The runs before this one: two on the previous UTC day, one that turns stale between the
#: read and the alerts' own clock (30 minutes later), one an hour ago.
EARLIER = (-20.0, -12.0, -5.75, -1.0)
MOVERS, UNCOUNTED = 3, 2

#: Counts that tie (|±5|), cross milestones (995 -> 1000), drop by exactly 10% (100 -> 90)
#: and by a little more (100 -> 85).
Count = int | str | None  # an int: ok; "error"/"not_found": no count; None: no row at all
counts = st.one_of(
    st.none(),
    st.sampled_from(["error", "not_found"]),
    st.sampled_from([0, 5, 10, 85, 90, 95, 100, 995, 1000, 1005, 4000, 4995, 5000]),
)


def watchlist(root: Path) -> Watchlist:
    (root / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    return load_watchlist(root / "watchlist.yaml")


def land(
    lake: DeltaLake, hours: float, values: Mapping[tuple[str, str], Count], renamed: bool
) -> str:
    """One run at NOW + hours; an account's row names it as the platform reports it (upper
    case, or renamed when `renamed`), requested as the watchlist writes it."""
    when = NOW + timedelta(hours=hours)
    run_id = f"{when:%Y%m%dT%H%M%SZ}-t"
    for platform in ("x", "bluesky"):
        rows = [
            Observation(
                run_id=run_id,
                observed_at=when,
                platform=platform,
                handle=f"{handle}-new" if renamed else handle.upper(),
                status="ok" if isinstance(value, int) else value,  # type: ignore[arg-type]
                source="api",
                account_id=f"id-{handle}",
                followers=value if isinstance(value, int) else None,
                detail=None if isinstance(value, int) else f"{value} for {handle}",
                requested_handle=handle,
            )
            for (where, handle), value in values.items()
            if where == platform and value is not None
        ]
        if rows:
            landing.write_observations(lake, platform, run_id, when, rows)
    return run_id


def compare(layout: WarehouseLayout, wl: Watchlist, run_id: str, stale: Sequence[str]) -> None:
    """The SQL reduction against the Python one of every account's changes."""
    full = account_changes(layout, wl, run_id, NOW, read_window(wl.alerts.stale_hours))
    expected = RunChanges.of(full, MOVERS, UNCOUNTED)
    reduced = run_changes(
        layout, wl, run_id, NOW, movers=MOVERS, uncounted=UNCOUNTED, stale_keys=stale
    )
    assert reduced.movers == expected.movers
    assert reduced.uncounted == expected.uncounted
    assert reduced.uncounted_total == expected.uncounted_total
    assert len(reduced.alerting) <= len(full)
    ledger = {f"stale:{key}" for key in stale}
    # Alerts are judged a little after the read, by their own clock.
    for later in (timedelta(0), timedelta(minutes=30)):
        everyone = evaluate(full, wl.alerts, NOW + later)
        candidates = evaluate(reduced.alerting, wl.alerts, NOW + later)
        assert candidates.alerts == everyone.alerts
        assert candidates.recovered & ledger == everyone.recovered & ledger


ACCOUNTS = [
    ("x", "alpha"), ("x", "Beta"), ("x", "gamma"), ("x", "delta"), ("x", "omega"),
    ("x", "sigma"), ("bluesky", "alpha.bsky.social"), ("bluesky", "did:plc:Zeta"),
    ("bluesky", "beta.bsky.social"),
]  # fmt: skip


@settings(max_examples=20, deadline=None)
@given(
    history=st.lists(
        st.fixed_dictionaries(dict.fromkeys(ACCOUNTS, counts)),
        min_size=len(EARLIER) + 1,
        max_size=len(EARLIER) + 1,
    ),
    renamed=st.booleans(),
    stale=st.lists(
        st.sampled_from(["x:alpha", "x:beta", "bluesky:did:plc:Zeta", "x:gone"]), unique=True
    ),
)
def test_the_sql_reduction_equals_the_python_one(
    history: list[dict[tuple[str, str], Count]],
    renamed: bool,
    stale: list[str],
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        wl = watchlist(root)
        layout = WarehouseLayout.at(root / "warehouse")
        lake = DeltaLake(layout.local_lake)
        for hours, values in zip((*EARLIER, 0.0), history, strict=True):
            run_id = land(lake, hours, values, renamed and hours == 0.0)
        compare(layout, wl, run_id, stale)


def test_ties_gaps_and_renames_reduce_as_in_python(tmp_path: Path) -> None:
    wl = watchlist(tmp_path)
    layout = WarehouseLayout.at(tmp_path / "warehouse")
    lake = DeltaLake(layout.local_lake)
    land(
        lake,
        -20,
        {("x", "alpha"): 995, ("x", "Beta"): 100, ("x", "gamma"): 10, ("x", "delta"): 20},
        False,
    )
    land(
        lake,
        -1,
        {("x", "alpha"): 995, ("x", "Beta"): 100, ("x", "gamma"): 10, ("x", "omega"): 7},
        False,
    )
    run_id = land(
        lake,
        0,
        {
            ("x", "alpha"): 1000,  # +5, crosses 1,000
            ("x", "Beta"): 95,  # -5: ties with alpha, and a 5% drop (no alert)
            ("x", "gamma"): 5,  # -5 again: a 50% drop
            ("x", "delta"): 17,  # a 15% drop since the previous day, after a gap
            ("x", "omega"): "error",  # a gap in its counts
            ("bluesky", "alpha.bsky.social"): "not_found",
            ("bluesky", "beta.bsky.social"): 3,
        },
        True,  # every row under a new handle: a rename keeps the watched account
    )
    compare(layout, wl, run_id, ["x:gamma", "x:gone"])
    reduced = run_changes(
        layout, wl, run_id, NOW, movers=MOVERS, uncounted=UNCOUNTED, stale_keys=["x:gamma"]
    )
    # Ties by platform, then handle as written (binary order: upper case first).
    assert [(c.handle, c.change) for c in reduced.movers] == [
        ("Beta", -5),
        ("alpha", 5),
        ("gamma", -5),
    ]
    # Accounts the run did not ask for (sigma) have no status: not "without a count".
    assert [c.handle for c in reduced.uncounted] == ["alpha.bsky.social", "omega"]
    assert reduced.uncounted_total == 2
    recovered = evaluate(reduced.alerting, wl.alerts, NOW).recovered
    assert "stale:x:gamma" in recovered


def test_changes_that_do_not_fit_the_memory_cap_are_read_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wl = watchlist(tmp_path)
    layout = WarehouseLayout.at(tmp_path / "warehouse")
    lake = DeltaLake(layout.local_lake)
    land(lake, -1, {("x", "alpha"): 995, ("x", "Beta"): 100}, False)
    run_id = land(lake, 0, {("x", "alpha"): 1000, ("x", "Beta"): "error"}, False)
    expected = run_changes(layout, wl, run_id, NOW, movers=MOVERS, uncounted=UNCOUNTED)
    monkeypatch.setattr(duckdb_sql, "RUN_MEMORY_LIMIT", "1KB")  # nothing fits
    reduce, tries = run_changes_module._reduce, []

    def watched(*args: Any, bounded: bool) -> tuple[list[tuple[Any, ...]], int]:
        try:
            return reduce(*args, bounded=bounded)
        except duckdb.OutOfMemoryException:
            tries.append(f"bounded={bounded}: out of memory")
            raise

    monkeypatch.setattr(run_changes_module, "_reduce", watched)
    assert run_changes(layout, wl, run_id, NOW, movers=MOVERS, uncounted=UNCOUNTED) == expected
    assert tries == ["bounded=True: out of memory"]
