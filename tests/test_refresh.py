"""Refresh: exact marts on a tiny lake, incremental equal to full, identity kept."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from followerledger.delta_lake import DATASETS, OBSERVATIONS, DeltaLake
from followerledger.history_import import import_history
from followerledger.layout import WarehouseLayout
from followerledger.manifest import ManifestStore
from followerledger.models import DAILY, INCREMENTAL, SNAPSHOT
from followerledger.observation import Observation
from followerledger.refresh import day_ranges, refresh
from followerledger.refresh.changes import LakeChanges
from followerledger.watchlist import Watchlist, load_watchlist
from tests.tiny import land, obs, query

WATCHLIST = """\
brands:
  Alpha:
    x: [alpha]
  Beta:
    bluesky: [b.test]
landscapes:
  Letters: [Alpha, Beta]
"""


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 1, hour, minute, tzinfo=UTC) + timedelta(days=day - 1)


# Each stage lands as one run (one file per platform); the last run starts at 23:59 and
# answers after midnight, so its rows belong to the next UTC day.
STAGES: list[tuple[str, datetime, list[Observation]]] = [
    (
        "r1",
        at(1, 8),
        [
            obs("r1", at(1, 8), "x", "alpha", 100, "1"),
            obs("r1", at(1, 8, 1), "bluesky", "b.test", 50, "did:plc:b"),
        ],
    ),
    ("r2", at(1, 20), [obs("r2", at(1, 20), "x", "alpha", 110, "1")]),
    # Day 2 has no run at all. Day 3: the account is not found: a status, not a count.
    ("r3", at(3, 12), [obs("r3", at(3, 12), "x", "alpha", None, None, "not_found")]),
    (
        "r4",
        at(4, 9),
        [
            obs("r4", at(4, 9), "x", "alpha", 130, "1"),
            obs("r4", at(4, 9), "bluesky", "b.test", 55, "did:plc:b"),
        ],
    ),
    ("r5", at(4, 23, 59), [obs("r5", at(5, 0, 1), "x", "alpha", 131, "1")]),
]

EXPECTED_DAILY = [
    (date(2026, 10, 31), "x:1", "alpha", 90, 1, "import"),
    (date(2026, 11, 1), "bluesky:did:plc:b", "b.test", 50, 1, "api"),
    (date(2026, 11, 1), "x:1", "alpha", 110, 2, "api"),
    (date(2026, 11, 4), "bluesky:did:plc:b", "b.test", 55, 1, "api"),
    (date(2026, 11, 4), "x:1", "alpha", 130, 1, "api"),
    (date(2026, 11, 5), "x:1", "alpha", 131, 1, "api"),
]


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, DeltaLake, Watchlist, Path]:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST)
    history = tmp_path / "history.csv"
    history.write_text("observed_at,platform,handle,followers\n2026-10-31T06:00:00Z,x,alpha,90\n")
    return (
        tmp_path / "warehouse",
        DeltaLake(tmp_path / "warehouse/lake"),
        load_watchlist(tmp_path / "watchlist.yaml"),
        history,
    )


DAILY_SQL = (
    "select day, account_key, handle, followers, samples, source from daily_followers "
    "order by day, account_key"
)


def test_daily_followers_on_a_tiny_lake(tiny: tuple[Path, DeltaLake, Watchlist, Path]) -> None:
    warehouse, lake, watchlist, history = tiny
    import_history(history, WarehouseLayout.at(warehouse, lake.root))
    for stage in STAGES:
        land(lake, stage)
    report = refresh(WarehouseLayout.at(warehouse, lake.root), watchlist, full=True)
    assert report.new_files == 15  # 7 observation files, 7 run records, 1 import
    assert query(warehouse, DAILY_SQL) == EXPECTED_DAILY


def test_incremental_refresh_equals_full(tiny: tuple[Path, DeltaLake, Watchlist, Path]) -> None:
    warehouse, lake, watchlist, history = tiny
    for stage in STAGES:
        land(lake, stage)
        refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
    # The import arrives last, unresolved: it must join account x:1 by its handle.
    import_history(history, WarehouseLayout.at(warehouse, lake.root))
    report = refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
    assert report.new_files == 1
    incremental = {
        name: query(warehouse, f"select * from {name} order by all")
        for name in ("daily_followers", "accounts", "account_handles")
    }
    assert query(warehouse, DAILY_SQL) == EXPECTED_DAILY
    refresh(WarehouseLayout.at(warehouse, lake.root), watchlist, full=True)
    full = {name: query(warehouse, f"select * from {name} order by all") for name in incremental}
    assert incremental == full


def test_a_refresh_reports_and_logs_what_each_model_cost(
    tiny: tuple[Path, DeltaLake, Watchlist, Path], caplog: pytest.LogCaptureFixture
) -> None:
    warehouse, lake, watchlist, _ = tiny
    for stage in STAGES:
        land(lake, stage)
    with caplog.at_level(logging.DEBUG, logger="followerledger.refresh"):
        report = refresh(WarehouseLayout.at(warehouse, lake.root), watchlist, full=True)
    steps = dict(report.steps)
    every_model = {model.name for model in (*INCREMENTAL, *DAILY, *SNAPSHOT)}
    assert every_model <= set(steps)
    assert {f"{model.name} (write)" for model in (*INCREMENTAL, *SNAPSHOT)} <= set(steps)
    assert {"lake changes", "publish catalog", "daily_followers (merge months)"} <= set(steps)
    assert all(seconds >= 0 for seconds in steps.values())
    assert [seconds for _, seconds in report.steps] == sorted(steps.values(), reverse=True)
    logged = {record.args[0] for record in caplog.records if record.args}  # type: ignore[index]
    assert logged == set(steps)
    assert sum(steps.values()) <= report.seconds


def test_a_refresh_without_new_files_changes_nothing(
    tiny: tuple[Path, DeltaLake, Watchlist, Path],
) -> None:
    warehouse, lake, watchlist, _ = tiny
    land(lake, STAGES[0])
    refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
    before = query(warehouse, DAILY_SQL)
    report = refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
    assert (report.new_files, report.days_recomputed) == (0, 0)
    assert query(warehouse, DAILY_SQL) == before


def test_accounts_relation(tiny: tuple[Path, DeltaLake, Watchlist, Path]) -> None:
    warehouse, lake, watchlist, history = tiny
    import_history(history, WarehouseLayout.at(warehouse, lake.root))
    for stage in STAGES:
        land(lake, stage)
    refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
    rows = query(
        warehouse,
        "select account_key, platform, account_id, handle, brand, "
        "in_watchlist, status, followers, first_seen, last_seen "
        "from accounts order by account_key",
    )
    assert rows == [
        (
            "bluesky:did:plc:b",
            "bluesky",
            "did:plc:b",
            "b.test",
            "Beta",
            True,
            "ok",
            55,
            at(1, 8, 1),
            at(4, 9),
        ),
        (
            "x:1",
            "x",
            "1",
            "alpha",
            "Alpha",
            True,
            "ok",
            131,
            datetime(2026, 10, 31, 6, tzinfo=UTC),
            at(5, 0, 1),
        ),
    ]


def test_a_rename_keeps_one_account_with_both_handles(
    tiny: tuple[Path, DeltaLake, Watchlist, Path],
) -> None:
    warehouse, lake, watchlist, _ = tiny
    land(lake, ("r1", at(1, 8), [obs("r1", at(1, 8), "x", "alpha", 100, "1")]))
    land(
        lake, ("r2", at(2, 8), [obs("r2", at(2, 8), "x", "alpha_new", 105, "1", requested="alpha")])
    )
    refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
    assert query(
        warehouse, "select account_key, handle, brand from accounts where platform = 'x'"
    ) == [("x:1", "alpha_new", "Alpha")]
    assert query(
        warehouse, "select handle, first_seen, last_seen from account_handles order by first_seen"
    ) == [("alpha", at(1, 8), at(1, 8)), ("alpha_new", at(2, 8), at(2, 8))]
    assert query(
        warehouse, "select day, account_key, handle, followers from daily_followers order by day"
    ) == [(date(2026, 11, 1), "x:1", "alpha", 100), (date(2026, 11, 2), "x:1", "alpha_new", 105)]


def test_watched_account_never_observed_still_listed(
    tiny: tuple[Path, DeltaLake, Watchlist, Path],
) -> None:
    warehouse, lake, watchlist, _ = tiny
    refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
    assert query(
        warehouse,
        "select account_key, brand, status, first_seen from accounts order by account_key",
    ) == [("bluesky:@b.test", "Beta", None, None), ("x:@alpha", "Alpha", None, None)]
    assert query(warehouse, "select count(*) from daily_followers") == [(0,)]
    assert query(warehouse, "select brand, handle from watchlist order by brand") == [
        ("Alpha", "alpha"),
        ("Beta", "b.test"),
    ]


def test_day_ranges() -> None:
    days = [date(2026, 1, d) for d in (1, 2, 3, 20, 21)] + [date(2008, 7, 1)]
    assert day_ranges(days) == [
        (date(2008, 7, 1), date(2008, 7, 1)),
        (date(2026, 1, 1), date(2026, 1, 3)),
        (date(2026, 1, 20), date(2026, 1, 21)),
    ]


def test_what_changed_is_read_from_the_tables_versions_the_marts_reflect(
    tiny: tuple[Path, DeltaLake, Watchlist, Path],
) -> None:
    warehouse, lake, watchlist, _ = tiny
    layout = WarehouseLayout.at(warehouse, lake.root)
    land(lake, STAGES[0])
    refresh(layout, watchlist)
    state = ManifestStore(layout).load()
    versions = {d.name: lake.snapshot(d).version for d in DATASETS}
    assert state.lake_versions == versions  # what the marts reflect, per table
    # At those versions nothing is new, whatever the file list says (it is not even read).
    unchanged = LakeChanges.of(lake, dataclasses.replace(state, lake_files={}))
    assert (unchanged.new_files, unchanged.vanished) == (0, [])
    # A table at a later version: its files not reflected are the new ones.
    land(lake, STAGES[1])
    changes = LakeChanges.of(lake, state)
    assert changes.versions["observations"] > (versions["observations"] or 0)
    assert changes.new_files > 0
    assert changes.added["observations"] == [
        f for f in lake.snapshot(OBSERVATIONS).files if f.key not in state.lake_files
    ]
