"""The HTML report: the numbers it shows against the marts, on a tiny warehouse, and the page
as a person sees it in headless Chromium.

The tiny world has one of each thing the report must show: growth, a drop during Twitter's
2018 purge (explained), an account's own spike, an account too young to project, one that is
not found, one suspended, a hidden YouTube channel, a day no run happened, a day with a run
that erred, and a landscape of two brands.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from followerledger.artifacts import SUMMARY_KEY, summary_markdown
from followerledger.catalog import publish
from followerledger.cli import main
from followerledger.delta_lake import DeltaLake
from followerledger.flows.hourly import snapshot_and_refresh_flow
from followerledger.layout import WarehouseLayout
from followerledger.observation import Observation
from followerledger.refresh import refresh
from followerledger.report import (
    build_report,
    parse_zone,
    write_report,
)
from followerledger.report.charts import (
    COVERAGE_KINDS,
    PLATFORM_COLOURS,
    Series,
    line_chart,
    platform_colour,
)
from followerledger.run_summary import RunSummary
from followerledger.sources import registry
from followerledger.watchlist import load_watchlist
from tests.browser import PHONE_HEIGHT, PHONE_WIDTH, BrowserMissing, Chromium
from tests.browser import Page as Tab
from tests.conftest import Workspace
from tests.tiny import days_from, land_rows, moment, obs, query

WATCHLIST = """\
brands:
  Acme:
    x: [acme, acmehelp, gonewild]
    bluesky: [acme.com]
  Bolt:
    x: [bolt, boltsusp]
    youtube: ["@bolt"]
landscapes:
  Rivals: [Acme, Bolt]
"""
FIRST = date(2018, 6, 16)
DAYS = days_from(FIRST, 44)  # through 2018-07-29
LAST = DAYS[-1]
NO_RUN = date(2018, 7, 1)  # the collector did not run that day
PURGE = date(2018, 7, 12)  # Twitter removes locked accounts: acme loses 400
SPIKE = date(2018, 7, 20)  # bolt gains 900 at once, its own doing
ERRED = date(2018, 7, 25)  # a second run that day could not count acme.com
NOW = datetime(2018, 7, 30, 9, tzinfo=UTC)


def world_rows() -> list[Observation]:
    rows = []
    for n, day in enumerate(DAYS):
        if day == NO_RUN:
            continue
        run, at = f"r{day:%m%d}", moment(day)
        acme = 800 + 10 * n - (400 if day >= PURGE else 0)
        bolt = 2000 + 20 * n + (900 if day >= SPIKE else 0)
        rows += [
            obs(run, at, "x", "acme", acme, "1"),
            obs(run, at, "bluesky", "acme.com", 300 + 2 * n, "did:plc:acme"),
            obs(run, at, "x", "bolt", bolt, "4"),
            obs(run, at, "youtube", "@bolt", None, "UCbolt", status="hidden"),
        ]
        if day >= date(2018, 7, 20):
            rows.append(obs(run, at, "x", "acmehelp", 5000 + 3 * n, "2"))
        if day <= date(2018, 7, 26):
            rows.append(obs(run, at, "x", "gonewild", 40 + n, "3"))
        else:
            rows.append(obs(run, at, "x", "gonewild", None, None, status="not_found"))
        if day <= date(2018, 7, 27):
            rows.append(obs(run, at, "x", "boltsusp", 150 + n, "5"))
        else:
            rows.append(obs(run, at, "x", "boltsusp", None, None, status="suspended"))
        if day == ERRED:
            rows.append(
                obs(f"{run}b", moment(day, 18), "bluesky", "acme.com", None, None, status="error")
            )
    return rows


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    (root / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    lake = DeltaLake(root / "warehouse" / "lake")
    land_rows(lake, world_rows())
    refresh(
        WarehouseLayout.at(root / "warehouse", lake.root),
        load_watchlist(root / "watchlist.yaml"),
        full=True,
    )
    return root / "warehouse"


@pytest.fixture(scope="module")
def page(warehouse: Path) -> Page:
    html, _ = build_report(
        warehouse / "followerledger.duckdb", zone=parse_zone("UTC"), days=90, now=NOW
    )
    return Page(html)


class Page(HTMLParser):
    """The report's tables by id (rows of cell texts, with each row's attributes) and its
    SVG elements; text inside an SVG (tooltips) is not part of a cell's text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.html = html
        self.tables: dict[str, list[tuple[dict[str, str | None], list[str]]]] = {}
        self.captions: dict[str, str] = {}
        self._table: str | None = None
        self._cells: list[str] | None = None
        self._row: dict[str, str | None] = {}
        self._text: list[str] | None = None
        self._caption: list[str] | None = None
        self._in_svg = 0
        self._in_head = False
        self._count = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self._in_svg += 1
        elif tag == "table":
            self._count += 1
            self._table = dict(attrs).get("id") or f"table{self._count}"
            self.tables[self._table] = []
        elif tag == "caption":
            self._caption = []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._table and not self._in_head:
            self._cells, self._row = [], dict(attrs)
        elif tag in ("td", "th") and self._cells is not None:
            self._text = []
        elif tag == "br" and self._text is not None:
            self._text.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._in_svg -= 1
        elif tag == "thead":
            self._in_head = False
        elif tag == "caption" and self._caption is not None and self._table:
            self.captions[self._table] = " ".join("".join(self._caption).split())
            self._caption = None
        elif tag in ("td", "th") and self._text is not None and self._cells is not None:
            self._cells.append(" ".join("".join(self._text).split()))
            self._text = None
        elif tag == "tr" and self._cells is not None and self._table:
            if self._cells and not all(cell == "" for cell in self._cells):
                self.tables[self._table].append((self._row, self._cells))
            self._cells = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._in_svg:
            return
        if self._text is not None:
            self._text.append(data)
        elif self._caption is not None:
            self._caption.append(data)

    def rows(self, table: str) -> list[list[str]]:
        return [cells for _, cells in self.tables[table]]

    def by_key(self, table: str) -> dict[str, list[str]]:
        """Rows keyed by their account."""
        return {
            str(attrs["data-account-key"]): cells
            for attrs, cells in self.tables[table]
            if attrs.get("data-account-key")
        }

    def table_captioned(self, caption: str) -> list[list[str]]:
        table = next(name for name, text in self.captions.items() if text == caption)
        return self.rows(table)


def signed(value: int) -> str:
    return f"{value:+,}".replace("-", "−")


def test_account_rows_show_the_marts_numbers_and_statuses_never_zero(
    warehouse: Path, page: Page
) -> None:
    marts = query(
        warehouse,
        """
        select accounts.account_key, accounts.status, accounts.followers,
            growth.change_7d, growth.change_30d, board.rank_followers
        from accounts
        left join account_growth as growth
            on growth.account_key = accounts.account_key
            and growth.day = cast(timezone('UTC', accounts.counted_at) as date)
        left join leaderboard as board
            on board.account_key = accounts.account_key and board.scope = 'all'
            and board.day = (select max(day) from leaderboard)
        where accounts.in_watchlist
        """,
    )
    shown = page.by_key("accounts-table")
    assert set(shown) == {row[0] for row in marts}
    assert len(marts) == 7
    for key, status, followers, change_7d, change_30d, rank in marts:
        _, _, trend, count, seven, thirty, rank_cell, _ = shown[key]
        assert trend == ""  # the sparkline: its numbers are in its tooltip
        if status == "ok":
            assert count == f"{followers:,}", key
            assert seven.split()[0] == signed(change_7d), key
        else:
            assert not re.match(r"^0\b", count), (key, count)
        if change_30d is not None:
            assert thirty.split()[0] == signed(change_30d), key
        if rank is None:
            assert rank_cell.startswith("–"), key
        else:
            assert rank_cell.split()[0] == str(rank), key
    statuses = {key: cells[-1] for key, cells in shown.items()}
    assert statuses["x:1"] == "counted"
    assert statuses["youtube:UCbolt"].startswith("hidden")
    assert shown["youtube:UCbolt"][3] == "hidden"
    assert shown["x:3"][3] == "not found last count 80, 2018-07-26 12:00 UTC"
    assert statuses["x:3"].startswith("not found")
    # The suspended account keeps its last count, shown as such: 150 + 41 on 2018-07-27.
    assert shown["x:5"][3] == "suspended last count 191, 2018-07-27 12:00 UTC"


def test_brand_totals_marks_and_shares_match_the_marts(warehouse: Path, page: Page) -> None:
    totals = dict(
        query(
            warehouse,
            f"select brand || '/' || platform, followers from brand_daily where day = '{LAST}'",
        )
    )
    acme = page.table_captioned("Acme: followers per platform")
    assert [cells[:2] for cells in acme] == [
        ["all platforms", f"{totals['Acme/all']:,} {LAST}"],
        ["bluesky", f"{totals['Acme/bluesky']:,} {LAST}"],
        ["x", f"{totals['Acme/x']:,} {LAST}"],
    ]
    # The window starts before the data: the change is since the first day with a total.
    first = query(
        warehouse,
        "select followers from brand_daily where brand = 'Acme' and platform = 'all' "
        "order by day limit 1",
    )[0][0]
    assert acme[0][2] == (
        f"{signed(totals['Acme/all'] - first)} "
        f"+{100 * (totals['Acme/all'] - first) / first:.2f}% since {FIRST}"
    )
    # The purge is marked on Acme's lines, hollow and with its explanation; Bolt's spike is
    # its own.
    anomalies = query(warehouse, "select handle, day, change, platform_event from anomalies")
    assert {(handle, day) for handle, day, _, _ in anomalies} == {
        ("acme", PURGE),
        ("bolt", SPIKE),
    }
    event = next(name for handle, _, _, name in anomalies if handle == "acme")
    assert event is not None
    assert page.table_captioned("Acme: marked days")[0][::2] == [
        str(PURGE),
        f"{signed(-390)} 1,050 → 660",
        event,
    ]
    assert page.table_captioned("Bolt: marked days")[0][4] == "the account's own spike"
    # Vega draws each anomaly as a triangle whose tip points up (spike) or down (drop),
    # labelled for screen readers with what the table says.
    marks = [
        (label.split(":")[0], "spike" if tip == "-" else "drop", fill, stroke)
        for label, tip, fill, stroke in re.findall(
            r'<path aria-label="([^"]*)" role="graphics-symbol" aria-roledescription="point"'
            r'[^>]* d="M0,(-?)[\d.]+L[^"]*" fill="(#\w+)" stroke="(#\w+)"',
            page.html,
        )
    ]
    # Acme's drop on its total and on its X panel; Bolt (counted on X only) has one chart.
    assert sorted(marks) == [(f"{PURGE} · x acme", "drop", "#ffffff", "#c0262d")] * 2 + [
        (f"{SPIKE} · x bolt", "spike", "#1b7f3b", "#1b7f3b")
    ]
    assert f"<title>{PURGE} · x acme: drop of −390 followers" in page.html  # on hover

    shares = query(
        warehouse,
        "select brand, followers, share_pct from share_of_audience "
        f"where platform = 'all' and day = '{LAST}' order by share_pct desc",
    )
    assert [cells[:3] for cells in page.table_captioned(f"Rivals on {LAST}")] == [
        [brand, f"{followers:,}", f"{share:.1f}%"] for brand, followers, share in shares
    ]


def test_projections_show_their_date_or_their_guard(warehouse: Path, page: Page) -> None:
    projections = {
        key: (milestone, when, reason)
        for key, milestone, when, reason in query(
            warehouse,
            "select account_key, next_milestone, milestone_date, no_projection_reason "
            "from projections",
        )
    }
    shown = page.by_key("projections-table")
    assert set(shown) == set(projections)
    for key, (milestone, when, reason) in projections.items():
        cells = shown[key]
        assert cells[4] == f"{milestone:,}"
        if when is None:
            assert cells[5] == f"no date: {reason}"
        else:
            assert cells[5].startswith(f"{when} in ")
    assert shown["x:2"][5] == "no date: under 14 days of history"
    assert projections["x:1"][1] is not None  # acme has a date


def test_coverage_gaps_and_run_health_match_the_marts(warehouse: Path, page: Page) -> None:
    gaps = page.rows("gaps-table")
    assert [
        "x gonewild",
        "Acme",
        "2018-07-27",
        "2018-07-29 ongoing",
        "3",
        "not found (3 runs)",
    ] in (gaps)
    assert ["x acme", "Acme", str(NO_RUN), str(NO_RUN), "1", "no run reached it"] in gaps
    # Every kind of day has its colour on the heat map.
    heat = re.search(r'<svg class="chart heat".*?</svg>', page.html, re.DOTALL)
    assert heat is not None
    fills = set(re.findall(r'fill="(#\w+)"', heat.group(0)))
    for kind in ("counted", "partial", "uncounted", "no_run"):
        assert COVERAGE_KINDS[kind][0] in fills, kind

    latest = query(
        warehouse,
        "select sum(accounts), sum(ok), sum(requests), sum(x_estimated_cost_usd) from runs "
        f"where run_id = 'r{LAST:%m%d}'",
    )[0]
    runs = page.rows("runs-table")
    assert len(runs) == 20
    assert runs[0][0] == f"{LAST} 12:00 UTC r{LAST:%m%d}"
    assert runs[0][2:4] == [str(latest[0]), str(latest[1])]
    assert runs[0][9] == str(latest[2])
    assert runs[0][11] == f"${latest[3]:.2f}"
    erred = next(row for row in runs if row[0].endswith(f"r{ERRED:%m%d}b"))
    assert erred[8] == "1"  # its error


def test_the_page_loads_nothing_from_outside_itself(page: Page) -> None:
    # No script, no stylesheet or font to fetch, no image: the only URLs are the SVG
    # namespace (a name, never fetched) and the page's own anchors.
    assert "<script" not in page.html
    assert "@import" not in page.html
    assert "@font-face" not in page.html
    ids = re.findall(r'\bid="([^"]*)"', page.html)
    assert len(ids) == len(set(ids))  # charts' clip paths included: each names its own
    assert set(re.findall(r"url\(([^)]*)\)", page.html)) <= {f"#{name}" for name in ids}
    assert set(re.findall(r'\b(?:href|src)="([^"]*)"', page.html)) <= {
        f"#{name}" for name in ids
    } | {"data:,"}
    assert set(re.findall(r"https?://[^\s\"'<>]+", page.html)) == {"http://www.w3.org/2000/svg"}


def test_a_day_without_a_count_breaks_the_line_and_a_lone_day_is_a_dot() -> None:
    first = date(2026, 3, 1)
    counted = [0, 1, 2, 4, 6, 7]  # day 3 and day 5 have no count: day 4 stands alone
    svg = line_chart(
        [Series("all", "#2a5db0", [(first + timedelta(days=n), 100.0 + n) for n in counted])],
        first,
        first + timedelta(days=7),
        title="t",
        description="d",
    )
    line = re.search(r'class="mark-line role-mark[^"]*"[^>]*><path d="([^"]+)"', svg)
    assert line is not None
    # Three runs (0-2, 4, 6-7): three pieces of path; the lone day draws nothing on its own
    # path (a move) but is a dot. Nothing is drawn at y of a zero count.
    assert line.group(1).count("M") == 3
    assert len(re.findall(r'aria-roledescription="circle"|class="mark-symbol', svg)) >= 1
    assert re.search(r'class="mark-symbol role-mark[^"]*"[^>]*><path', svg)
    assert "<title>t</title><desc>d</desc>" in svg


def test_times_follow_the_zone_and_days_the_window(warehouse: Path) -> None:
    html, _ = build_report(
        warehouse / "followerledger.duckdb",
        zone=parse_zone("America/New_York"),
        days=7,
        now=NOW,
    )
    page = Page(html)
    # Stored at 12:00 UTC: shown at 08:00 in New York (daylight time); days stay UTC days.
    assert page.rows("runs-table")[0][0] == f"{LAST} 08:00 EDT r{LAST:%m%d}"
    first = LAST - timedelta(days=6)
    assert f"UTC days <strong>{first}</strong> to <strong>{LAST}</strong>" in " ".join(html.split())
    assert page.table_captioned("Acme: followers per platform")[0][2].endswith(f"since {first}")
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        parse_zone("Mars/Base")


def test_an_empty_warehouse_reports_that_nothing_is_there_yet(tmp_path: Path) -> None:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    catalog = publish(
        WarehouseLayout.at(tmp_path, tmp_path / "lake"), load_watchlist(tmp_path / "watchlist.yaml")
    )
    written = write_report(catalog, WarehouseLayout.at(tmp_path).report, now=NOW)
    html = written.path.read_text(encoding="utf-8")
    assert "No snapshot run in this window" in html
    assert "No counted account yet" in html
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".report")] == []


def test_cli_writes_the_report_and_names_a_bad_zone(
    warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(warehouse))
    runner = CliRunner()
    bad = runner.invoke(main, ["report", "--tz", "Mars/Base"])
    assert bad.exit_code == 2
    assert bad.output == (
        "followerledger: error: --tz: unknown time zone 'Mars/Base'; give an IANA name such "
        "as UTC, Europe/Berlin or America/New_York\n"
    )
    out = tmp_path / "nested" / "r.html"
    good = runner.invoke(main, ["report", "--out", str(out), "--days", "30", "--tz", "Asia/Tokyo"])
    assert good.exit_code == 0, good.output
    assert good.output.startswith(f"report: {out} (")
    assert "Times are shown in <strong>Asia/Tokyo</strong>" in out.read_text(encoding="utf-8")


def test_the_run_summary_links_to_the_latest_report() -> None:
    result = RunSummary("r1", NOW, ())
    uri = WarehouseLayout.at(Path("/srv/ledger/warehouse")).report.as_uri()
    text = summary_markdown(result, [], uri)
    assert f"Latest report: [{uri}]({uri})" in text
    assert "Latest report" not in summary_markdown(result, [])


@pytest.fixture
def chromium() -> Iterator[Chromium]:
    try:
        browser = Chromium()
    except BrowserMissing as error:
        pytest.fail(str(error))
    with browser:
        yield browser


def test_the_report_in_headless_chromium(
    warehouse: Path, tmp_path: Path, chromium: Chromium
) -> None:
    written = write_report(
        warehouse / "followerledger.duckdb", tmp_path / "report.html", now=NOW, days=60
    )
    url = written.path.resolve().as_uri()
    tab = chromium.page()
    tab.open(url)
    charts: list[dict[str, Any]] = tab.evaluate(
        """Array.from(document.querySelectorAll('svg')).map(svg => {
            const box = svg.getBoundingClientRect();
            const text = selector => (svg.querySelector(selector)?.textContent || '').trim();
            return {kind: svg.getAttribute('class'), width: box.width, height: box.height,
                    role: svg.getAttribute('role'), title: text(':scope > title'),
                    desc: text(':scope > desc'),
                    drawn: svg.querySelectorAll(
                        '.role-mark > path:not([d=""]), polyline, circle').length};
        })"""
    )
    meters = tab.evaluate("document.querySelectorAll('meter.progress').length")
    layout = tab.evaluate(
        "({page: document.documentElement.scrollWidth, view: window.innerWidth,"
        " text: document.body.innerText.length})"
    )
    shot = tab.screenshot(tmp_path / "report.png")
    assert tab.errors == []
    assert tab.requests == [url]  # the file itself, nothing else
    kinds = [chart["kind"] for chart in charts]
    # Brands: each total, and Acme's two platforms as one chart of panels (Bolt is only
    # counted on X); the landscape; run health; the heat map; a sparkline per account; a
    # meter per milestone.
    assert kinds.count("chart") == 2 + 1 + 1 + 1
    assert kinds.count("chart heat") == 1
    assert kinds.count("spark") == 7
    assert len(charts) == 5 + 1 + 7
    assert meters == len(query(warehouse, "select * from projections where next_milestone > 0"))
    for chart in charts:
        assert chart["width"] > 0, chart
        assert chart["height"] > 0, chart
        assert chart["role"] == "img", chart
        assert chart["title"], chart
        assert chart["desc"], chart
    assert all(chart["drawn"] > 0 for chart in charts if chart["kind"] != "spark")
    # Every account with a count in the window has a drawn sparkline (the hidden one has none).
    assert sum(chart["drawn"] > 0 for chart in charts if chart["kind"] == "spark") == 6
    assert layout["page"] <= layout["view"]  # readable at laptop width: no sideways scroll
    assert layout["text"] > 2000
    assert shot.stat().st_size > 50_000
    print(f"screenshot: {shot}")
    # On a laptop each account is one line of the table: its cells side by side.
    desktop = account_cells(tab)
    assert len(desktop) == 7
    for row in desktop:
        cells = row["cells"]
        for name in ("followers", "change-7d", "status-cell"):
            assert cells[name]["top"] == cells["account"]["top"], (row["key"], name)
            assert cells[name]["left"] > cells["account"]["right"], (row["key"], name)

    tab.open(url, width=PHONE_WIDTH, height=PHONE_HEIGHT, mobile=True)
    phone = tab.evaluate(
        """({page: document.documentElement.scrollWidth, view: window.innerWidth,
             boxes: Array.from(document.querySelectorAll('.scroll')).map(box => ({
                 right: box.getBoundingClientRect().right,
                 scrolls: box.scrollWidth > box.clientWidth})),
             charts: Array.from(document.querySelectorAll('svg.chart')).map(
                 svg => svg.getBoundingClientRect().right)})"""
    )
    shot = tab.screenshot(tmp_path / "report-phone.png")
    assert tab.errors == []
    assert tab.requests == [url]
    # A page wider than the phone would be zoomed out to fit: innerWidth would grow past it.
    assert phone["view"] == PHONE_WIDTH
    assert phone["page"] <= phone["view"]  # no sideways scroll of the page
    # Wide tables (the last runs' 13 columns) scroll inside their own box, never the page.
    assert all(box["right"] <= PHONE_WIDTH for box in phone["boxes"]), phone["boxes"]
    assert any(box["scrolls"] for box in phone["boxes"])
    assert phone["charts"]
    assert all(right <= PHONE_WIDTH for right in phone["charts"])
    # Every account shows its handle, platform, followers, changes and status, in view and
    # each named (the column headers are off screen, so each cell carries its own).
    rows = account_cells(tab)
    handles = dict(query(warehouse, "select account_key, platform || ' ' || handle from accounts"))
    assert {row["key"] for row in rows} == {row["key"] for row in desktop}
    for row in rows:
        for name, cell in row["cells"].items():
            assert cell["visible"], (row["key"], name)
            assert cell["width"] > 0, (row["key"], name)
            assert cell["height"] > 0, (row["key"], name)
            assert 0 <= cell["left"] < cell["right"] <= PHONE_WIDTH, (row["key"], name, cell)
        cells = row["cells"]
        assert cells["followers"]["top"] > cells["account"]["top"], row["key"]  # stacked
        assert cells["account"]["text"].startswith(handles[row["key"]]), row["key"]
        assert cells["followers"]["label"] == "followers"
        assert cells["change-7d"]["label"] == "7 days"
        assert cells["status-cell"]["label"] == "status"
        assert cells["status-cell"]["text"], row["key"]
    shown = {row["key"]: row["cells"] for row in rows}
    assert shown["x:3"]["account"]["text"] == "x gonewild"
    assert shown["x:3"]["status-cell"]["text"] == "not found"  # gonewild: never a blank row
    assert shown["x:3"]["followers"]["text"].startswith("not found\nlast count 80")
    assert shown["x:1"]["followers"]["text"] == "830"
    assert shown["x:1"]["change-7d"]["text"].startswith("+70")
    assert shot.stat().st_size > 50_000
    print(f"phone screenshot: {shot}")


def account_cells(tab: Tab) -> list[dict[str, Any]]:
    """Each row of the Accounts table as the browser lays it out: per cell (the account, its
    followers, 7- and 30-day changes and status) its box, whether it is visible, its text
    as shown and the label drawn before it."""
    rows: list[dict[str, Any]] = tab.evaluate(
        """Array.from(document.querySelectorAll('#accounts-table tbody tr')).map(tr => {
            const cell = element => {
                const box = element.getBoundingClientRect();
                const label = getComputedStyle(element, '::before').content;
                return {left: box.left, right: box.right, top: box.top, width: box.width,
                        height: box.height, text: element.innerText.trim(),
                        label: label.startsWith('"') ? JSON.parse(label) : null,
                        visible: element.checkVisibility(
                            {opacityProperty: true, visibilityProperty: true})};
            };
            const names = ['account', 'followers', 'change-7d', 'change-30d', 'status-cell'];
            return {key: tr.dataset.accountKey,
                    cells: Object.fromEntries(
                        names.map(name => [name, cell(tr.querySelector('.' + name))]))};
        })"""
    )
    return rows


def test_every_platform_has_its_colour_and_eight_platforms_draw_apart() -> None:
    assert set(registry.names()) <= set(PLATFORM_COLOURS)  # a new platform needs its colour
    eight = ("x", "bluesky", "mastodon", "youtube", "instagram", "facebook", "threads", "twitch")
    colours = [platform_colour(name) for name in eight]
    assert len(set(colours)) == len(eight)
    assert platform_colour("instagram") == "#c13584"
    assert platform_colour("twitch") == "#9146ff"
    assert platform_colour("myspace") == "#555555"  # a platform this release does not know
    first = date(2026, 3, 1)
    svg = line_chart(
        [
            Series(
                name,
                platform_colour(name),
                [(first + timedelta(days=n), 10.0 + n) for n in range(5)],
            )
            for name in eight
        ],
        first,
        first + timedelta(days=4),
        title="t",
        description="d",
        width=226,
        height=90,
    )
    # One panel per platform, headed by its name, each line in its platform's colour.
    headers = re.findall(r"<text[^>]*>([a-z]+)</text>", svg)
    assert [name for name in headers if name in eight] == list(eight)
    strokes = re.findall(r'<path[^>]*d="M[^"]*"[^>]*stroke="(#\w+)"', svg)
    assert set(colours) <= set(strokes)


def summaries_linking(uri: str) -> list[str]:
    """The snapshot-summary artifacts whose text links to that report."""

    async def read() -> list[str]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[SUMMARY_KEY])),
                sort=ArtifactSort.CREATED_DESC,
                limit=50,
            )
            return [str(item.data) for item in found if uri in str(item.data)]

    return asyncio.run(read())


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_the_hourly_flow_writes_the_report_last_and_a_failed_report_fails_nothing(
    workspace: Workspace,
) -> None:
    target = WarehouseLayout.at(workspace.warehouse).report
    target.mkdir(parents=True)  # a folder where the report goes: writing it fails
    state = snapshot_and_refresh_flow(return_state=True)
    assert state.is_completed(), state.message
    first = state.result()
    assert first["report"] is None
    # The run landed, its marts were refreshed, and its summary links to the report.
    landed = query(
        workspace.warehouse, "select count(*) from daily_followers where source = 'emulator'"
    )
    assert landed == [(5,)]  # the small watchlist's accounts that have a count
    uri = WarehouseLayout.at(workspace.warehouse).report_uri
    assert len(summaries_linking(f"Latest report: [{uri}]({uri})")) == 1

    target.rmdir()
    second = snapshot_and_refresh_flow()
    assert second["report"] == str(target)
    page = Page(target.read_text(encoding="utf-8"))
    counts = dict(query(workspace.warehouse, "select account_key, followers from accounts"))
    shown = page.by_key("accounts-table")
    assert set(shown) == set(counts)
    assert all(
        cells[3] == f"{counts[key]:,}" for key, cells in shown.items() if cells[-1] == "counted"
    )
