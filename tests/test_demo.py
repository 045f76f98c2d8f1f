"""The demo: the whole pipeline offline, then the DuckDB CLI answers on the warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from followerledger.demo import DemoRefused, prepare_warehouse, run_demo
from followerledger.query import run_query
from tests.analyst import AnalystSession

REPO = Path(__file__).resolve().parents[1]


def readme_queries() -> list[tuple[str, str]]:
    """The SQL blocks of warehouse/README.md, each with the title of its section."""
    text = (REPO / "warehouse/README.md").read_text()
    found = []
    for section in text.split("\n## ")[1:]:
        title = section.split("\n", 1)[0]
        found += [(title, block.split("```", 1)[0]) for block in section.split("```sql\n")[1:]]
    return found


#: Sections whose example asks about something the demo does not have: no account of the
#: demo was renamed, and its smooth trajectories have no anomaly.
EMPTY_ON_THE_DEMO = {"anomalies"}  # the emulated trajectories are smooth


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_demo_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(REPO / "watchlist.yaml", tmp_path / "watchlist.yaml")
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FOLLOWERLEDGER_WAREHOUSE", raising=False)
    monkeypatch.delenv("X_BEARER_TOKEN", raising=False)
    said: list[str] = []
    result = run_demo(say=said.append)
    text = "\n".join(said)
    assert "import: examples/dell-2008.csv (3 rows" in text
    # Accounts the history resolved are read by id, the others by name: two X requests.
    assert "snapshot: x: {'not_found': 2, 'ok': 14, 'suspended': 1} in 2 requests" in text
    assert "snapshot: bluesky: {'ok': 2} in 1 requests" in text
    assert "snapshot: mastodon: {'ok': 2} in 4 requests" in text
    assert "snapshot: youtube: {'hidden': 1, 'ok': 5} in 2 requests" in text
    assert "│ Dell   │ x        │ DellOutlet" in text
    assert "duckdb -readonly" in text
    # The demo leaves the environment as it found it.
    import os

    assert "X_BEARER_TOKEN" not in os.environ
    assert result.catalog == Path("warehouse/followerledger.duckdb")
    # It writes the report and says where.
    assert result.report == Path("warehouse/report.html")
    assert "report: warehouse/report.html (open it in a browser" in text
    report = (tmp_path / result.report).read_text(encoding="utf-8")
    _, projected = run_query(tmp_path / result.catalog, "select count(*) from projections")
    # A row per watched account, and one per account with a projection (or its guard).
    assert report.count('data-account-key="') == 27 + projected[0][0]
    assert "Twitter removes locked accounts" not in report  # nothing to explain in 90 days
    with AnalystSession(tmp_path / result.catalog) as analyst:
        assert analyst.ask("select count(*) from (select * from daily_followers limit 5)") == "5"
        assert (
            analyst.ask(
                "select followers from daily_followers where day = '2008-07-01' "
                "and handle = 'DellOutlet'"
            )
            == "1516"
        )
        # 90 days of history plus today's live run, all on one account per handle.
        assert (
            int(
                analyst.ask(
                    "select count(distinct day) from daily_followers where handle = 'DellOutlet'"
                )
            )
            >= 91
        )
        assert analyst.ask("select count(*) from accounts where brand = 'Dell'") == "16"
        # StudioDell renamed itself DellStudio: one account, both handles.
        assert (
            analyst.ask(
                "select list_transform(handles, lambda h: h.handle) from accounts "
                "where watched_handle = 'StudioDell'"
            )
            == '"[StudioDell, DellStudio]"'
        )
    # Every example query of warehouse/README.md answers on the demo warehouse, with rows
    # wherever the demo has such a case.
    examples = readme_queries()
    assert {title for title, _ in examples} >= {
        "account_growth",
        "brand_daily",
        "share_of_audience",
        "leaderboard",
        "anomalies",
        "platform_events",
        "projections",
        "coverage",
        "gaps",
    }
    for title, sql in examples:
        columns, rows = run_query(tmp_path / result.catalog, sql)
        assert columns, sql
        assert bool(rows) == (title not in EMPTY_ON_THE_DEMO), (title, rows)
    # The marts tell the demo's story: three Dell accounts on X have no count.
    _, brand = run_query(
        tmp_path / result.catalog,
        "select accounts_included, accounts_expected, missing_accounts from brand_daily "
        "where brand = 'Dell' and platform = 'x' order by day desc limit 1",
    )
    assert brand == [(9, 12, ["x:DellYourBlog", "x:DellintheClouds", "x:IdeaStormAction"])]
    _, gaps = run_query(
        tmp_path / result.catalog,
        "select handle, statuses, ongoing from gaps where handle = 'IdeaStormAction'",
    )
    assert gaps == [("IdeaStormAction", ["suspended"], True)]
    # Running it again starts over rather than piling up.
    run_demo(say=said.append)
    with AnalystSession(tmp_path / result.catalog) as analyst:
        assert (
            analyst.ask("select count(distinct run_id) from observations where source = 'emulator'")
            == "1"
        )


def test_demo_refuses_a_warehouse_with_other_data(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    with pytest.raises(DemoRefused, match="FOLLOWERLEDGER_WAREHOUSE"):
        prepare_warehouse(tmp_path)
    assert (tmp_path / "lake").exists()
    empty = tmp_path / "fresh"
    prepare_warehouse(empty)
    (empty / "lake").mkdir()
    prepare_warehouse(empty)
    assert not (empty / "lake").exists()
