"""The marts on tiny lakes: for every relation, a hand-built input and its exact output.

Each world is a handful of accounts landed as real runs (Parquet files in a real lake),
refreshed by the real engine and read through the published catalog, as an analyst would.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from followerledger.cli import main
from followerledger.delta_lake import DeltaLake
from followerledger.layout import WarehouseLayout
from followerledger.models import DAILY, SNAPSHOT, VIEWS, Model
from followerledger.observation import Observation
from followerledger.refresh import refresh
from followerledger.watchlist import load_watchlist
from tests.tiny import audit_warehouse, days_from, land_rows, moment, obs, query


class World:
    """A watchlist and a lake in a temporary folder."""

    def __init__(self, root: Path, watchlist: str) -> None:
        self.root = root
        self.warehouse = root / "warehouse"
        self.lake = DeltaLake(self.warehouse / "lake")
        self.set_watchlist(watchlist)

    @classmethod
    def refreshed(cls, root: Path, watchlist: str, rows: list[Observation]) -> World:
        """A world with these rows landed and refreshed."""
        world = cls(root, watchlist)
        land_rows(world.lake, rows)
        world.refresh()
        return world

    def set_watchlist(self, text: str) -> None:
        (self.root / "watchlist.yaml").write_text(text)
        self.watchlist = load_watchlist(self.root / "watchlist.yaml")

    def refresh(self, *, full: bool = False, staleness_days: int = 2) -> bool:
        """Refresh; whether it turned out to be a full rebuild."""
        report = refresh(
            WarehouseLayout.at(self.warehouse, self.lake.root),
            self.watchlist,
            full=full,
            parameters={"staleness_days": staleness_days},
        )
        return report.full

    def ask(self, sql: str) -> list[tuple[object, ...]]:
        return query(self.warehouse, sql)


def june(day: int) -> date:
    return date(2018, 6, day)


# --- account_growth: sampled twice a day, then once in three days; days without data; a rename


GROWTH_WATCHLIST = "brands:\n  Alpha:\n    x: [alpha, beta]\n"


def growth_rows() -> list[Observation]:
    rows = []
    for number in range(1, 5):  # twice a day on days 1-4: +10 at each run
        day = june(number)
        closing = 1000 + 20 * (number - 1)
        rows.append(obs(f"g{number:02d}a", moment(day, 6), "x", "alpha", closing - 10, "1"))
        rows.append(obs(f"g{number:02d}b", moment(day, 18), "x", "alpha", closing, "1"))
    # Days 5 and 6: no run at all. Then once in three days, renamed from day 10 on.
    rows.append(obs("g07", moment(june(7), 18), "x", "alpha", 1120, "1"))
    rows.append(obs("g10", moment(june(10), 18), "x", "alpha_new", 1180, "1", requested="alpha"))
    rows.append(obs("g13", moment(june(13), 18), "x", "alpha_new", 1240, "1", requested="alpha"))
    # beta: counted on days 1, 13 and 31 only.
    rows.append(obs("g01b", moment(june(1), 18), "x", "beta", 500, "2"))
    rows.append(obs("g13", moment(june(13), 18), "x", "beta", 620, "2"))
    rows.append(obs("g31", moment(date(2018, 7, 1), 18), "x", "beta", 680, "2"))
    return rows


SEVEN_10 = (1040, 7.0, 140, 20.0, 13.4615)
SEVEN_13 = (1060, 9.0, 180, 20.0, 13.2075)


def test_account_growth(tmp_path: Path) -> None:
    world = World.refreshed(tmp_path, GROWTH_WATCHLIST, growth_rows())
    rows = world.ask(
        "select day, handle, followers, "
        "baseline_1d, elapsed_days_1d, change_1d, change_per_day_1d, round(pct_change_1d, 4), "
        "baseline_7d, elapsed_days_7d, change_7d, change_per_day_7d, round(pct_change_7d, 4), "
        "baseline_30d, elapsed_days_30d, change_30d, round(pct_change_30d, 4), change_90d "
        "from account_growth order by account_key, day"
    )
    no5: tuple[None, ...] = (None,) * 5
    no4: tuple[None, ...] = (None,) * 4
    assert rows == [
        (june(1), "alpha", 1000, *no5, *no5, *no4, None),
        (june(2), "alpha", 1020, 1000, 1.0, 20, 20.0, 2.0, *no5, *no4, None),
        (june(3), "alpha", 1040, 1020, 1.0, 20, 20.0, 1.9608, *no5, *no4, None),
        (june(4), "alpha", 1060, 1040, 1.0, 20, 20.0, 1.9231, *no5, *no4, None),
        # Days 5 and 6 have no row. Three days since the last count: the same 20 a day.
        (june(7), "alpha", 1120, 1060, 3.0, 60, 20.0, 1.8868, *no5, *no4, None),
        (june(10), "alpha_new", 1180, *(1120, 3.0, 60, 20.0, 1.7857), *SEVEN_10, *no4, None),
        # The 7-day baseline is 9 days back: the change is 180, the 7-day growth 13.2%.
        (june(13), "alpha_new", 1240, *(1180, 3.0, 60, 20.0, 1.6949), *SEVEN_13, *no4, None),
        (june(1), "beta", 500, *no5, *no5, *no4, None),
        # 12 days since the last count: too old for a 1-day baseline, fine for 7 days.
        (june(13), "beta", 620, *no5, 500, 12.0, 120, 10.0, 14.0, *no4, None),
        (date(2018, 7, 1), "beta", 680, *no5, *no5, 500, 30.0, 180, 36.0, None),
    ]
    assert world.ask("select distinct account_key from account_growth order by 1") == [
        ("x:1",),
        ("x:2",),
    ]
    # Every relation keeps its declared grain (tests/test_audits.py: the audits themselves).
    assert audit_warehouse(world.warehouse) == {}


# --- accounts and account_handles: history imported without ids, before and without a live run

HANDLES_WATCHLIST = "brands:\n  Alpha:\n    x: [alpha, beta, ghost]\n"


def handle_rows() -> list[Observation]:
    def imported(handle: str, day: int) -> Observation:
        return obs("import-h", moment(june(day)), "x", handle, 100 + day, None, source="import")

    # alpha: imported by handle on days 1-3, then counted live as account 1 and renamed.
    rows = [imported("alpha", day) for day in (1, 2, 3)]
    rows.append(obs("h04", moment(june(4)), "x", "alpha", 110, "1"))
    rows.append(obs("h05", moment(june(5)), "x", "alpha_new", 111, "1", requested="alpha"))
    # beta: imported by handle only, never seen live. ghost: never found.
    rows += [imported("beta", day) for day in (2, 3)]
    rows.append(obs("h05", moment(june(5)), "x", "ghost", None, None, status="not_found"))
    return rows


def test_imports_without_ids_keep_their_handle_history(tmp_path: Path) -> None:
    world = World(tmp_path, HANDLES_WATCHLIST)
    live = [row for row in handle_rows() if row.source != "import"]
    land_rows(world.lake, live)
    world.refresh()
    # The import lands after the live runs were refreshed: its handles join account 1.
    land_rows(world.lake, [row for row in handle_rows() if row.source == "import"])
    assert world.refresh() is False
    assert audit_warehouse(world.warehouse) == {}
    expected_handles = [
        ("x:1", "x", "1", "alpha", moment(june(1)), moment(june(4))),
        ("x:1", "x", "1", "alpha_new", moment(june(5)), moment(june(5))),
        ("x:@beta", "x", None, "beta", moment(june(2)), moment(june(3))),
    ]
    handles_sql = "select * from account_handles order by account_key, first_seen"
    accounts_sql = "select account_key, handle, first_seen, handles from accounts order by 1"
    assert world.ask(handles_sql) == expected_handles
    span = {"handle": "alpha", "first_seen": moment(june(1)), "last_seen": moment(june(4))}
    renamed = {"handle": "alpha_new", "first_seen": moment(june(5)), "last_seen": moment(june(5))}
    beta = {"handle": "beta", "first_seen": moment(june(2)), "last_seen": moment(june(3))}
    assert world.ask(accounts_sql) == [
        ("x:1", "alpha_new", moment(june(1)), [span, renamed]),
        ("x:@beta", "beta", moment(june(2)), [beta]),
        # A handle never found was never reported under: no handle history.
        ("x:@ghost", "ghost", moment(june(5)), []),
    ]
    world.refresh(full=True)
    assert world.ask(handles_sql) == expected_handles


def test_a_growth_baseline_is_looked_for_in_whole_days(tmp_path: Path) -> None:
    # The 1-day window of day D accepts a count of day D - 8 or later, whatever the hour.
    world = World.refreshed(
        tmp_path,
        "brands:\n  Alpha:\n    x: [early, late]\n",
        [
            obs("w01a", moment(june(1), 0), "x", "early", 100, "1"),
            obs("w01b", moment(june(1), 23), "x", "late", 100, "2"),
            obs("w09", moment(june(9), 23), "x", "early", 190, "1"),
            obs("w10", moment(june(10), 1), "x", "late", 190, "2"),
        ],
    )
    assert world.ask(
        "select day, handle, baseline_1d, round(elapsed_days_1d, 4), change_per_day_1d "
        "from account_growth where day > '2018-06-01' order by day"
    ) == [
        # Almost 9 days apart, but the baseline's day is within 8 days: accepted.
        (june(9), "early", 100, 8.9583, 90 / (8 + 23 / 24)),
        # A little over 8 days apart, but the baseline's day is 9 days back: none.
        (june(10), "late", None, None, None),
    ]


# --- brand_daily, share_of_audience, leaderboard: a stale account, a day without data, three
# brands in one landscape.

BRAND_WATCHLIST = """\
brands:
  Alpha:
    x: [alpha, alpha2]
    bluesky: [a.test]
  Beta:
    x: [beta]
  Gamma:
    bluesky: [g.test]
landscapes:
  Letters: [Alpha, Beta, Gamma]
"""

BRAND_DAYS = [1, 2, 3, 4, 5, 6, 8]  # day 7: nothing ran


def brand_rows() -> list[Observation]:
    rows = []
    a_test = {1: 10, 2: 11, 3: 12, 5: 14, 6: 15}
    g_test = {1: 500, 2: 500, 3: 500, 5: 500, 6: 100}
    for number in BRAND_DAYS:
        x_run, when = f"x{number:02d}", moment(june(number))
        rows.append(obs(x_run, when, "x", "alpha", 130 + 10 * number, "101"))
        if number <= 2:
            rows.append(obs(x_run, when, "x", "alpha2", 45 + 5 * number, "102"))
        else:  # alpha2 goes stale: the platform errors on it from day 3 on
            rows.append(obs(x_run, when, "x", "alpha2", None, "102", status="error"))
        rows.append(obs(x_run, when, "x", "beta", 300, "103"))
        if number in a_test:  # no Bluesky run on days 4 and 8
            bluesky_run, at = f"b{number:02d}", moment(june(number)).replace(minute=5)
            rows.append(obs(bluesky_run, at, "bluesky", "a.test", a_test[number], "did:plc:a"))
            rows.append(obs(bluesky_run, at, "bluesky", "g.test", g_test[number], "did:plc:g"))
    return rows


@pytest.fixture
def brand_world(tmp_path: Path) -> World:
    return World.refreshed(tmp_path, BRAND_WATCHLIST, brand_rows())


def test_brand_daily(brand_world: World) -> None:
    rows = brand_world.ask(
        "select day, platform, followers, accounts_included, accounts_expected, "
        "oldest_count_day, missing_accounts from brand_daily where brand = 'Alpha' "
        "order by day, platform"
    )
    stale = ["x:alpha2"]
    assert rows == [
        (june(1), "all", 200, 3, 3, june(1), []),
        (june(1), "bluesky", 10, 1, 1, june(1), []),
        (june(1), "x", 190, 2, 2, june(1), []),
        (june(2), "all", 216, 3, 3, june(2), []),
        (june(2), "bluesky", 11, 1, 1, june(2), []),
        (june(2), "x", 205, 2, 2, june(2), []),
        # alpha2's day-2 count stands in for two days
        (june(3), "all", 227, 3, 3, june(2), []),
        (june(3), "bluesky", 12, 1, 1, june(3), []),
        (june(3), "x", 215, 2, 2, june(2), []),
        # no Bluesky run: no Bluesky row, but a.test's day-3 count stands in the total
        (june(4), "all", 237, 3, 3, june(2), []),
        (june(4), "x", 225, 2, 2, june(2), []),
        # alpha2 is now too stale: left out, and named
        (june(5), "all", 194, 2, 3, june(5), stale),
        (june(5), "bluesky", 14, 1, 1, june(5), []),
        (june(5), "x", 180, 1, 2, june(5), stale),
        (june(6), "all", 205, 2, 3, june(6), stale),
        (june(6), "bluesky", 15, 1, 1, june(6), []),
        (june(6), "x", 190, 1, 2, june(6), stale),
        # day 7: no data, no row
        (june(8), "all", 225, 2, 3, june(6), stale),
        (june(8), "x", 210, 1, 2, june(8), stale),
    ]
    assert brand_world.ask(
        "select day, platform, followers from brand_daily where brand = 'Gamma' "
        "and platform = 'all' order by day"
    ) == [(june(d), "all", f) for d, f in ((1, 500), (2, 500), (3, 500), (5, 500), (6, 100))]


def test_share_of_audience(brand_world: World) -> None:
    rows = brand_world.ask(
        "select day, platform, brand, followers, round(share_pct, 4), competitor_average, "
        "round(landscape_average, 4), landscape_followers, brands_included, brands_expected "
        "from share_of_audience where landscape = 'Letters' and ("
        "(day = '2018-06-01' and platform = 'all') or day = '2018-06-04' "
        "or (day = '2018-06-06' and platform = 'bluesky')) order by day, platform, brand"
    )
    assert rows == [
        (june(1), "all", "Alpha", 200, 20.0, 400.0, 333.3333, 1000, 3, 3),
        (june(1), "all", "Beta", 300, 30.0, 350.0, 333.3333, 1000, 3, 3),
        (june(1), "all", "Gamma", 500, 50.0, 250.0, 333.3333, 1000, 3, 3),
        # Gamma has no count on day 4: two of three brands
        (june(4), "all", "Alpha", 237, 44.1341, 300.0, 268.5, 537, 2, 3),
        (june(4), "all", "Beta", 300, 55.8659, 237.0, 268.5, 537, 2, 3),
        (june(4), "x", "Alpha", 225, 42.8571, 300.0, 262.5, 525, 2, 2),
        (june(4), "x", "Beta", 300, 57.1429, 225.0, 262.5, 525, 2, 2),
        (june(6), "bluesky", "Alpha", 15, 13.0435, 100.0, 57.5, 115, 2, 2),
        (june(6), "bluesky", "Gamma", 100, 86.9565, 15.0, 57.5, 115, 2, 2),
    ]


def test_leaderboard(brand_world: World) -> None:
    rows = brand_world.ask(
        "select day, scope, handle, brand, count_day, followers, round(pct_change_7d, 4), "
        "rank_followers, rank_growth_7d, rank_followers_change from leaderboard "
        "where (scope = 'all' and day in ('2018-06-05', '2018-06-06', '2018-06-08')) "
        "or (scope = 'x' and day = '2018-06-08') order by day, scope, rank_followers"
    )
    assert rows == [
        # a.test climbs one place: alpha2 (4th on day 4) dropped off, too stale
        (june(5), "all", "g.test", "Gamma", june(5), 500, None, 1, None, 0),
        (june(5), "all", "beta", "Beta", june(5), 300, None, 2, None, 0),
        (june(5), "all", "alpha", "Alpha", june(5), 180, None, 3, None, 0),
        (june(5), "all", "a.test", "Alpha", june(5), 14, None, 4, None, 1),
        # g.test falls to 100: two places down
        (june(6), "all", "beta", "Beta", june(6), 300, None, 1, None, 1),
        (june(6), "all", "alpha", "Alpha", june(6), 190, None, 2, None, 1),
        (june(6), "all", "g.test", "Gamma", june(6), 100, None, 3, None, -2),
        (june(6), "all", "a.test", "Alpha", june(6), 15, None, 4, None, 0),
        # no board on day 7: no rank changes; Bluesky counts from day 6 still stand
        (june(8), "all", "beta", "Beta", june(8), 300, 0.0, 1, 2, None),
        (june(8), "all", "alpha", "Alpha", june(8), 210, 50.0, 2, 1, None),
        (june(8), "all", "g.test", "Gamma", june(6), 100, None, 3, None, None),
        (june(8), "all", "a.test", "Alpha", june(6), 15, None, 4, None, None),
        (june(8), "x", "beta", "Beta", june(8), 300, 0.0, 1, 2, None),
        (june(8), "x", "alpha", "Alpha", june(8), 210, 50.0, 2, 1, None),
    ]


def test_leaderboard_ties_share_a_rank(tmp_path: Path) -> None:
    followers = {
        1: {"a": 100, "b": 100, "c": 50, "d": 10},
        2: {"a": 100, "b": 90, "c": 100, "d": 10},
    }
    ids = {"a": "1", "b": "2", "c": "3", "d": "4"}
    rows = [
        obs(f"t{day}", moment(june(day)), "x", handle, count, ids[handle])
        for day, counts in followers.items()
        for handle, count in counts.items()
    ]
    # d is counted but not watched: it stands on the board without a brand.
    world = World.refreshed(tmp_path, "brands:\n  Tie:\n    x: [a, b, c]\n", rows)
    assert world.ask(
        "select day, handle, brand, rank_followers, rank_followers_change from leaderboard "
        "where scope = 'x' order by day, rank_followers, account_key"
    ) == [
        # Day 1 has no board before it: no rank changes.
        (june(1), "a", "Tie", 1, None),
        (june(1), "b", "Tie", 1, None),
        (june(1), "c", "Tie", 3, None),
        (june(1), "d", None, 4, None),
        (june(2), "a", "Tie", 1, 0),
        (june(2), "c", "Tie", 1, 2),
        (june(2), "b", "Tie", 3, -2),
        (june(2), "d", None, 4, 0),
    ]
    assert world.ask("select count(*) from leaderboard where scope = 'all'") == [(8,)]


def test_the_staleness_window_is_a_setting(
    brand_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(brand_world.root)
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(brand_world.warehouse))
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(brand_world.root / "watchlist.yaml"))
    monkeypatch.setenv("FOLLOWERLEDGER_STALENESS_DAYS", "0")
    result = CliRunner().invoke(main, ["refresh"])
    # The marts were computed with another window: every day is recomputed.
    assert result.exit_code == 0, result.output
    assert "refresh (full rebuild)" in result.output
    day_3 = (
        "select followers, accounts_included, missing_accounts from brand_daily "
        "where brand = 'Alpha' and platform = 'x' and day = '2018-06-03'"
    )
    assert brand_world.ask(day_3) == [(160, 1, ["x:alpha2"])]
    result = CliRunner().invoke(main, ["refresh"])
    assert "refresh (incremental)" in result.output
    monkeypatch.setenv("FOLLOWERLEDGER_STALENESS_DAYS", "-1")
    result = CliRunner().invoke(main, ["refresh"])
    assert result.exit_code == 2
    assert "FOLLOWERLEDGER_STALENESS_DAYS" in result.output
    assert brand_world.ask(day_3) == [(160, 1, ["x:alpha2"])]


def test_a_watchlist_edit_recomputes_past_brand_totals(brand_world: World) -> None:
    brand_world.set_watchlist(BRAND_WATCHLIST.replace("[alpha, alpha2]", "[alpha]"))
    assert brand_world.refresh() is True
    assert brand_world.ask(
        "select day, followers, accounts_included, accounts_expected from brand_daily "
        "where brand = 'Alpha' and platform = 'x' and day <= '2018-06-02' order by day"
    ) == [(june(1), 140, 1, 1), (june(2), 150, 1, 1)]


def test_a_handle_taken_over_moves_brand_history(tmp_path: Path) -> None:
    world = World(tmp_path, "brands:\n  Alpha:\n    x: [alpha]\n")
    land_rows(
        world.lake, [obs(f"t{d}", moment(june(d)), "x", "alpha", 100 + d, "1") for d in (1, 2)]
    )
    world.refresh()
    assert world.ask("select day, followers from brand_daily where platform = 'x'") == [
        (june(1), 101),
        (june(2), 102),
    ]
    # Account 1 renamed itself; another account (2) now answers to the watched handle.
    land_rows(world.lake, [obs("t3", moment(june(3)), "x", "alpha", 5, "2")])
    assert world.refresh() is False
    incremental = world.ask("select * from brand_daily order by all")
    assert [(row[0], row[3]) for row in incremental] == [(june(3), 5), (june(3), 5)]
    assert audit_warehouse(world.warehouse) == {}
    world.refresh(full=True)
    assert world.ask("select * from brand_daily order by all") == incremental


# --- anomalies and projections: a purge on a platform-event day, a bought spike, a young
# account, a falling one, a slow one, one that stopped being counted, one sampled twice a day
# and then once in three days.

TREND_WATCHLIST = """\
brands:
  Trend:
    x: [steady, boost, young, falling, slow, gone, sparse]
"""

TREND_DAYS = days_from(date(2018, 6, 10), 41)  # to 2018-07-20
PURGE_DAY = date(2018, 7, 12)  # Twitter's locked-account removal (platform_events)
SPIKE_DAY = date(2018, 6, 25)


def trend_rows() -> list[Observation]:
    rows = []
    for index, day in enumerate(TREND_DAYS):
        run, when = f"p{day:%m%d}", moment(day)
        purge = 2000 if day >= PURGE_DAY else 0
        spike = 5000 if day >= SPIKE_DAY else 0
        rows.append(obs(run, when, "x", "steady", 10_000 + 100 * index - purge, "10"))
        rows.append(obs(run, when, "x", "boost", 20_000 + 50 * index + spike, "11"))
        if index >= 30:
            rows.append(obs(run, when, "x", "young", 3000 + 10 * (index - 30), "12"))
        rows.append(obs(run, when, "x", "falling", 5000 - 10 * index, "13"))
        rows.append(obs(run, when, "x", "slow", 1200 + index, "14"))
        if index <= 30:
            rows.append(obs(run, when, "x", "gone", 800 + 5 * index, "15"))
        else:
            rows.append(obs(run, when, "x", "gone", None, None, status="not_found"))
        # Twice a day for 20 days, then once in three days: +30 then is no spike.
        if index < 20:
            early = moment(day, 6)
            rows.append(obs(f"{run}m", early, "x", "sparse", 1998 + 10 * index, "16"))
        if index < 20 or (index - 19) % 3 == 0:
            rows.append(obs(run, when, "x", "sparse", 2000 + 10 * index, "16"))
    return rows


@pytest.fixture
def trend_world(tmp_path: Path) -> World:
    return World.refreshed(tmp_path, TREND_WATCHLIST, trend_rows())


TWITTER_PURGE = "Twitter removes locked accounts from follower counts"


BOOST_BASELINE = (50.0, 0.0, 14, 5000.0, 5000.0, None)
PURGE_BASELINE = (100.0, 0.0, 28, -2000.0, -2000.0, TWITTER_PURGE)


def test_anomalies(trend_world: World) -> None:
    rows = trend_world.ask(
        "select day, handle, direction, followers, previous_followers, change, elapsed_days, "
        "change_per_day, baseline_median, baseline_mad, baseline_changes, excess_change, score, "
        "platform_event from anomalies order by day, account_key"
    )
    assert rows == [
        (SPIKE_DAY, "boost", "spike", *(25_750, 20_700, 5050, 1.0, 5050.0), *BOOST_BASELINE),
        # The purge is a drop, but the platform's: it names the event.
        (PURGE_DAY, "steady", "drop", *(11_200, 13_100, -1900, 1.0, -1900.0), *PURGE_BASELINE),
    ]
    assert trend_world.ask(
        "select platform, first_day, last_day, kind from platform_events where platform = 'x'"
    ) == [("x", date(2018, 7, 11), date(2018, 7, 15), "purge")]


def test_the_anomaly_score_scales_with_the_time_elapsed(tmp_path: Path) -> None:
    # +10, +15, +20 a day in turn on days 2-11 (median 15, MAD 5), then +145 over three days.
    counts = {1: 1000}
    for day in range(2, 12):
        counts[day] = counts[day - 1] + (10, 15, 20)[(day - 2) % 3]
    counts[14] = counts[11] + 145
    rows = [
        obs(f"s{day:02d}", moment(june(day)), "x", "wobbly", n, "1") for day, n in counts.items()
    ]
    world = World.refreshed(tmp_path, "brands:\n  Alpha:\n    x: [wobbly]\n", rows)
    # excess_change = 145 - 15 x 3 = 100; score = 100 / (1.4826 x 5 x sqrt(3)) = 7.79, a spike
    # ((145 / 3 - 15) / (1.4826 x 5) would be 4.50: not one).
    assert world.ask(
        "select day, direction, change, elapsed_days, round(change_per_day, 4), "
        "baseline_median, baseline_mad, baseline_changes, excess_change, round(score, 4) "
        "from anomalies"
    ) == [(june(14), "spike", 145, 3.0, 48.3333, 15.0, 5.0, 10, 100.0, 7.7883)]


def test_a_projection_trend_is_measured_in_elapsed_time(tmp_path: Path) -> None:
    # One follower an hour, counted at 00:00 on days 1-8 and at 23:00 on days 9-16: per
    # calendar day the slopes would mostly be steeper than 24 a day; per elapsed day all are 24.
    hours = [24 * (day - 1) + (0 if day <= 8 else 23) for day in range(1, 17)]
    rows = [
        obs(f"e{hour}", moment(june(1), 0) + timedelta(hours=hour), "x", "hourly", 1000 + hour, "1")
        for hour in hours
    ]
    world = World.refreshed(tmp_path, "brands:\n  Alpha:\n    x: [hourly]\n", rows)
    assert world.ask(
        "select followers, history_days, round(trend_per_day, 6), trend_counts, next_milestone, "
        "round(days_to_milestone, 4), milestone_date from projections"
    ) == [(1383, 15, 24.0, 16, 5000, 150.7083, date(2018, 11, 14))]


def test_projections(trend_world: World) -> None:
    rows = trend_world.ask(
        "select handle, followers, history_days, trend_per_day, trend_counts, next_milestone, "
        "days_to_milestone, milestone_date, no_projection_reason "
        "from projections order by account_key"
    )
    assert rows == [
        # The purge's jump is taken out of the trend: still 100 a day.
        ("steady", 12_000, 40, 100.0, 28, 50_000, 380.0, date(2019, 8, 4), None),
        # So is the bought spike's.
        ("boost", 27_000, 40, 50.0, 28, 50_000, 460.0, date(2019, 10, 23), None),
        ("young", 3100, 10, 10.0, 11, 5000, None, None, "under 14 days of history"),
        ("falling", 4600, 40, -10.0, 28, 5000, None, None, "flat or falling trend"),
        ("slow", 1240, 40, 1.0, 28, 5000, None, None, "beyond 5 years"),
        # Last counted 10 days before the others: no trend from stale counts.
        ("gone", 950, 30, None, 0, 1000, None, None, "no recent count"),
        # Counts every three days at the end: fewer of them, the same pace.
        ("sparse", 2400, 40, 10.0, 14, 5000, 260.0, date(2019, 4, 6), None),
    ]


# --- coverage and gaps: twice a day, a suspended stretch, a day without any run, an import.

COVERAGE_WATCHLIST = "brands:\n  Sigma:\n    x: [sus]\n"


def coverage_rows() -> list[Observation]:
    def run(name: str, day: int, hour: int, followers: int | None, status: str = "ok") -> None:
        when = moment(june(day), hour)
        rows.append(obs(name, when, "x", "sus", followers, "20", status=status))  # type: ignore[arg-type]

    rows = [obs("import-test", moment(date(2018, 5, 31)), "x", "sus", 90, None, source="import")]
    run("c01a", 1, 6, 100)
    run("c01b", 1, 18, 101)
    run("c02a", 2, 6, 102)
    run("c02b", 2, 18, 103)
    for day in (3, 4):
        run(f"c{day:02d}a", day, 6, None, "suspended")
        run(f"c{day:02d}b", day, 18, None, "suspended")
    run("c05a", 5, 6, 110)
    run("c05b", 5, 18, None, "error")
    run("c07", 7, 12, 120)  # day 6: nothing ran
    run("c08", 8, 12, None, "suspended")
    return rows


def test_coverage_and_gaps(tmp_path: Path) -> None:
    world = World.refreshed(tmp_path, COVERAGE_WATCHLIST, coverage_rows())
    assert world.ask(
        "select day, account_key, handle, runs_expected, runs_observed, runs_ok, runs_missing, "
        "statuses, imported from coverage order by day"
    ) == [
        (date(2018, 5, 31), "x:20", "sus", 0, 0, 0, 0, [], 1),
        (june(1), "x:20", "sus", 2, 2, 2, 0, [], 0),
        (june(2), "x:20", "sus", 2, 2, 2, 0, [], 0),
        (june(3), "x:20", "sus", 2, 2, 0, 2, ["suspended"], 0),
        (june(4), "x:20", "sus", 2, 2, 0, 2, ["suspended"], 0),
        (june(5), "x:20", "sus", 2, 2, 1, 1, ["error"], 0),
        (june(7), "x:20", "sus", 1, 1, 1, 0, [], 0),
        (june(8), "x:20", "sus", 1, 1, 0, 1, ["suspended"], 0),
    ]
    assert world.ask(
        "select account_key, brand, handle, first_day, last_day, days, runs_expected, "
        "runs_observed, statuses, ongoing from gaps order by first_day"
    ) == [
        ("x:20", "Sigma", "sus", june(3), june(4), 2, 4, 4, ["suspended"], False),
        ("x:20", "Sigma", "sus", june(6), june(6), 1, 0, 0, [], False),
        ("x:20", "Sigma", "sus", june(8), june(8), 1, 1, 1, ["suspended"], True),
    ]


# --- incremental refresh equals a full rebuild, for every relation


def published(world: World) -> dict[str, list[tuple[object, ...]]]:
    names = [model.name for model in DAILY + SNAPSHOT + VIEWS]
    return {name: world.ask(f"select * from {name} order by all") for name in names}


def test_incremental_refresh_equals_full_for_every_relation(tmp_path: Path) -> None:
    more_brands = TREND_WATCHLIST.removeprefix("brands:\n") + COVERAGE_WATCHLIST.removeprefix(
        "brands:\n"
    )
    watchlist = BRAND_WATCHLIST.replace("landscapes:", more_brands + "landscapes:")
    world = World(tmp_path, watchlist)
    rows = brand_rows() + trend_rows() + coverage_rows()
    # Land in time order in four stages, refreshing after each; then, as a late backfill of
    # days long refreshed, the brand world's Bluesky runs and three days of the trend world.
    backfill = {date(2018, 6, 20), date(2018, 6, 21), date(2018, 7, 1)}
    late = [row for row in rows if row.platform == "bluesky" or row.observed_at.date() in backfill]
    on_time = sorted((row for row in rows if row not in late), key=lambda row: row.observed_at)
    stage = len(on_time) // 4 + 1
    for start in range(0, len(on_time), stage):
        land_rows(world.lake, on_time[start : start + stage])
        world.refresh()
    land_rows(world.lake, late)
    assert world.refresh() is False
    incremental = published(world)
    assert all(incremental.values()), [name for name, rows in incremental.items() if not rows]
    assert audit_warehouse(world.warehouse) == {}
    world.refresh(full=True)
    assert published(world) == incremental
    assert audit_warehouse(world.warehouse) == {}


def test_reach_can_follow_a_parameter() -> None:
    model = Model("m", "daily", "marts/brand_daily.sql", reach_days=1, reach_parameter="window")
    assert model.reach({"window": 3}) == 4
    with pytest.raises(ValueError, match="window"):
        model.reach({"window": -1})
