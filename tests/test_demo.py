"""The demo: the whole pipeline offline, then the DuckDB CLI answers on the warehouse."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from prefect.settings import get_current_settings

from followerledger.cli import main
from followerledger.delta_lake import DeltaLake
from followerledger.demo import (
    DemoRefused,
    demo_environment,
    environment,
    prepare_warehouse,
    record_runs,
    run_demo,
)
from followerledger.layout import DEMO_WAREHOUSE, WarehouseLayout
from followerledger.observation import Observation
from followerledger.prefect_server import healthy
from followerledger.query import run_query
from followerledger.refresh import refresh
from followerledger.settings import load_settings
from followerledger.watchlist import load_watchlist
from tests import tiny
from tests.analyst import AnalystSession
from tests.tiny import audit_warehouse, land_rows, moment, obs, query

REPO = Path(__file__).resolve().parents[1]

REAL_ENV = """\
FOLLOWERLEDGER_WAREHOUSE=warehouse
FOLLOWERLEDGER_LAKE=warehouse/lake
X_BEARER_TOKEN=real-bearer-token
FOLLOWERLEDGER_ALERT_URLS=json://127.0.0.1:9/hook
"""
#: A run id as the demo's snapshot gets one, and a row as a real snapshot run lands it.
DEMO_RUN = "20261102T120000Z-d3e4f5"
REAL_ROW = obs("20261101T120000Z-a1b2c3", moment(date(2026, 11, 1)), "x", "DellOutlet", 1000, "1")
COUNTS_BY_SOURCE = (
    "select source, count(distinct run_id), count(*) from observations group by all order by 1"
)


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
    # A real warehouse at ./warehouse, named in .env next to real credentials.
    Path(".env").write_text(REAL_ENV, encoding="utf-8")
    real = Path("warehouse")
    land_rows(DeltaLake(real / "lake"), [REAL_ROW])
    refresh(
        WarehouseLayout.at(real, real / "lake"), load_watchlist(Path("watchlist.yaml")), full=True
    )
    before = files_under(real)
    # A real Prefect server (the session's), named by the environment and the active profile.
    server = get_current_settings().api.url
    assert server is not None
    monkeypatch.setenv("PREFECT_API_URL", server)
    Path("profiles.toml").write_text(
        f'active = "real"\n[profiles.real]\nPREFECT_API_URL = "{server}"\n', encoding="utf-8"
    )
    monkeypatch.setenv("PREFECT_PROFILES_PATH", str(tmp_path / "profiles.toml"))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "user-prefect"))
    history = prefect_history(server)

    outcome = CliRunner().invoke(main, ["demo"])
    assert outcome.exit_code == 0, outcome.output
    text = outcome.output
    # The demo's flow run and rate budgets went to a server of its own, stopped since.
    assert prefect_history(server) == history
    assert get_current_settings().api.url == server
    assert os.environ["PREFECT_API_URL"] == server
    assert not (tmp_path / "user-prefect").exists()
    own = text.split("snapshot: on a temporary Prefect server of the demo's own, ")[1].split()[0]
    assert own.startswith("http://127.0.0.1:")
    assert own != server
    assert not healthy(own)
    assert "demo warehouse: warehouse/demo (its own folder" in text
    assert text.rstrip().endswith("report: warehouse/demo/report.html")
    # The real warehouse is untouched, and its lake, catalog and marts hold no demo row.
    assert files_under(real, but=real / "demo") == before
    refresh(
        WarehouseLayout.at(real, real / "lake"), load_watchlist(Path("watchlist.yaml")), full=True
    )
    assert query(real, "select run_id, source from observations") == [(REAL_ROW.run_id, "api")]
    assert query(real, "select sum(followers) from daily_followers") == [(1000,)]
    catalog = Path("warehouse/demo/followerledger.duckdb")
    assert "import: examples/dell-2008.csv (3 rows" in text
    # Accounts the history resolved are read by id, the others by name: two X requests.
    assert "snapshot: x: {'not_found': 2, 'ok': 14, 'suspended': 1} in 2 requests" in text
    assert "snapshot: bluesky: {'ok': 2} in 1 requests" in text
    assert "snapshot: mastodon: {'ok': 2} in 4 requests" in text
    assert "snapshot: youtube: {'hidden': 1, 'ok': 5} in 2 requests" in text
    # Business Discovery and Pages ride in one Graph batch each; Threads asks per profile.
    assert "snapshot: instagram: {'ok': 6} in 1 requests" in text
    assert "snapshot: facebook: {'ok': 6} in 1 requests" in text
    assert "snapshot: threads: {'ok': 1} in 1 requests" in text
    assert (
        "(X, Bluesky, Mastodon, YouTube, Instagram, Facebook, Threads, Twitch; no network" in text
    )
    # Read by id (the history's): a followers call each, and the app-token request.
    assert "snapshot: twitch: {'ok': 5} in 6 requests" in text
    assert "│ Dell   │ x         │ DellOutlet" in text
    assert "duckdb -readonly" in text
    # The demo leaves the environment as it found it.
    assert "X_BEARER_TOKEN" not in os.environ
    assert "FOLLOWERLEDGER_WAREHOUSE" not in os.environ
    # It writes the report and says where; the next steps name the demo's warehouse.
    assert "report: warehouse/demo/report.html (open it in a browser" in text
    assert (
        "FOLLOWERLEDGER_WAREHOUSE=warehouse/demo FOLLOWERLEDGER_LAKE=warehouse/demo/lake "
        ".venv/bin/followerledger query" in text
    )
    assert "duckdb -readonly warehouse/demo/followerledger.duckdb" in text
    report = (tmp_path / "warehouse/demo/report.html").read_text(encoding="utf-8")
    _, projected = run_query(tmp_path / catalog, "select count(*) from projections")
    # A row per watched account, and one per account with a projection (or its guard).
    watched = len(load_watchlist(Path("watchlist.yaml")).accounts)
    assert watched == 45
    assert report.count('data-account-key="') == watched + projected[0][0]
    assert "Twitter removes locked accounts" not in report  # nothing to explain in 90 days
    with AnalystSession(tmp_path / catalog) as analyst:
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
        assert analyst.ask("select count(*) from accounts where brand = 'Dell'") == "22"
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
        columns, rows = run_query(tmp_path / catalog, sql)
        assert columns, sql
        assert bool(rows) == (title not in EMPTY_ON_THE_DEMO), (title, rows)
    # The marts tell the demo's story: three Dell accounts on X have no count.
    _, brand = run_query(
        tmp_path / catalog,
        "select accounts_included, accounts_expected, missing_accounts from brand_daily "
        "where brand = 'Dell' and platform = 'x' order by day desc limit 1",
    )
    assert brand == [(9, 12, ["x:DellYourBlog", "x:DellintheClouds", "x:IdeaStormAction"])]
    _, gaps = run_query(
        tmp_path / catalog,
        "select handle, statuses, ongoing from gaps where handle = 'IdeaStormAction'",
    )
    assert gaps == [("IdeaStormAction", ["suspended"], True)]
    # Every relation of the demo warehouse keeps its declared grain.
    assert audit_warehouse(tmp_path / DEMO_WAREHOUSE) == {}
    _, first_counts = run_query(tmp_path / catalog, COUNTS_BY_SOURCE)

    # Running it again resets its own data rather than piling up.
    said: list[str] = []
    result = run_demo(say=said.append)
    assert result.catalog == catalog
    assert result.report == Path("warehouse/demo/report.html")
    _, counts = run_query(tmp_path / catalog, COUNTS_BY_SOURCE)
    assert [(source, runs) for source, runs, _ in counts] == [("emulator", 1), ("import", 2)]
    assert [rows for *_, rows in counts] == [rows for *_, rows in first_counts]
    # Both runs and their rate budgets are in the demo's own Prefect database, kept.
    with contextlib.closing(sqlite3.connect(DEMO_WAREHOUSE / "_prefect_demo/prefect.db")) as db:
        assert db.execute("select count(*) from flow_run").fetchall() == [(2,)]
        limits = db.execute("select name from concurrency_limit_v2 order by name").fetchall()
    assert ("followerledger-x",) in limits

    # Once a real row lands in the demo's folder, the demo refuses to reset it.
    land_rows(DeltaLake(DEMO_WAREHOUSE / "lake"), [REAL_ROW])
    demo_files = files_under(DEMO_WAREHOUSE)
    refused = CliRunner().invoke(main, ["demo", "--warehouse", "warehouse/demo"])
    assert refused.exit_code == 2
    assert refused.stdout == ""
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith("followerledger: error: warehouse/demo holds rows")
    assert REAL_ROW.run_id in refused.stderr
    assert files_under(DEMO_WAREHOUSE) == demo_files


def prefect_history(api_url: str) -> tuple[int, list[tuple[str, str]]]:
    """How many flow runs a Prefect server holds, and its global concurrency limits with the
    time each last changed (taking slots changes it)."""
    runs = requests.post(f"{api_url}/flow_runs/count", json={}, timeout=10)
    limits = requests.post(f"{api_url}/v2/concurrency_limits/filter", json={}, timeout=10)
    runs.raise_for_status()
    limits.raise_for_status()
    return runs.json(), sorted((limit["name"], limit["updated"]) for limit in limits.json())


def files_under(folder: Path, but: Path | None = None) -> dict[str, bytes]:
    """Every file under a folder (but not under `but`) with its bytes."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and (but is None or not path.is_relative_to(but))
    }


def land_demo_run(warehouse: Path, run_id: str, source: str) -> None:
    """A run the demo recorded in its marker, landed in its lake."""
    record_runs(warehouse, {run_id: source})
    row = obs(run_id, moment(date(2026, 11, 2)), "x", "DellOutlet", 7, "1", source=source)
    land_rows(DeltaLake(warehouse / "lake"), [row])


@pytest.mark.parametrize(
    ("marker", "entry", "message"),
    [
        (None, "lake/notes.txt", r"no \.demo-warehouse marker.*--warehouse"),
        # An earlier demo's marker says nothing of which runs it wrote.
        ("created by `followerledger demo`; safe to delete\n", "lake/x", r"does not list the runs"),
        ('{"runs": {}}', "notes.txt", r"holds notes\.txt, which the demo does not write"),
        ('{"runs": {}}', "lake/observations/x.parquet", r"x\.parquet cannot be read as Parquet"),
    ],
    ids=["no marker", "an older marker", "another entry", "a broken file"],
)
def test_demo_refuses_a_folder_it_cannot_tell_is_its_own(
    tmp_path: Path, marker: str | None, entry: str, message: str
) -> None:
    if marker is not None:
        (tmp_path / ".demo-warehouse").write_text(marker)
    (tmp_path / entry).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / entry).write_text("mine")
    kept = files_under(tmp_path)
    with pytest.raises(DemoRefused, match=message) as refused:
        prepare_warehouse(tmp_path)
    assert "\n" not in str(refused.value)
    assert files_under(tmp_path) == kept


def test_demo_resets_only_the_runs_it_wrote(tmp_path: Path) -> None:
    demo = tmp_path / "demo"
    prepare_warehouse(demo)
    land_demo_run(demo, "import-0123456789abcdef", "import")
    land_demo_run(demo, DEMO_RUN, "emulator")
    prepare_warehouse(demo)
    assert files_under(demo) == {".demo-warehouse": (demo / ".demo-warehouse").read_bytes()}
    assert tiny.lake_files(DeltaLake(demo / "lake")) == ()


@pytest.mark.parametrize(
    "row",
    [REAL_ROW, obs(DEMO_RUN, moment(date(2026, 11, 3)), "x", "HP", 9, "2")],
    ids=["another run", "a recorded run from another source"],
)
def test_demo_refuses_a_row_it_did_not_write(tmp_path: Path, row: Observation) -> None:
    demo = tmp_path / "demo"
    prepare_warehouse(demo)
    land_demo_run(demo, DEMO_RUN, "emulator")
    land_rows(DeltaLake(demo / "lake"), [row])
    kept = files_under(demo)
    with pytest.raises(DemoRefused, match=rf"holds rows .*run {row.run_id}, source {row.source}"):
        prepare_warehouse(demo)
    assert files_under(demo) == kept


def test_demo_settings_come_from_nothing_of_the_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path(".env").write_text(REAL_ENV + "FOLLOWERLEDGER_RATE_BUDGETS=x=1/900\n", encoding="utf-8")
    monkeypatch.setenv("FOLLOWERLEDGER_LAKE", "s3://real-bucket/lake")
    monkeypatch.setenv("youtube_api_key", "real-youtube-key")
    # A setting the user's commands cannot take does not stop the demo, which sets its own.
    monkeypatch.setenv("FOLLOWERLEDGER_HTTP_TIMEOUT", "abc")
    values = demo_environment(Path("warehouse/demo"), "http://127.0.0.1:1234")
    # Prefect, imported later, reads its home and profiles from the demo's folder, not ~.
    home = tmp_path / "warehouse/demo/_prefect_demo"
    assert values["PREFECT_HOME"] == str(home)
    assert values["PREFECT_PROFILES_PATH"] == str(home / "profiles.toml")
    assert values["PREFECT_PROFILE"] == "ephemeral"  # Prefect's default; the user's may be absent
    with environment(values):
        settings = load_settings()
    assert settings.warehouse == Path("warehouse/demo")
    assert settings.layout.lake_uri == "warehouse/demo/lake"
    assert settings.watchlist == Path("watchlist.yaml")
    assert settings.x_bearer_token is not None
    assert settings.x_bearer_token.get_secret_value() == "emulator-bearer-token"
    assert settings.youtube_api_key is not None
    assert settings.youtube_api_key.get_secret_value() == "emulator-api-key"
    assert settings.alert_urls is None
    assert settings.budgets == {}
    assert settings.x_api_url == "http://127.0.0.1:1234"
    assert settings.http_timeout == 20.0
    # The user's environment is back as it was.
    assert os.environ["FOLLOWERLEDGER_LAKE"] == "s3://real-bucket/lake"
    # Settings read names in either case, so the demo must shadow the lower-case one too.
    assert os.environ["youtube_api_key"] == "real-youtube-key"  # noqa: SIM112
    assert "X_BEARER_TOKEN" not in os.environ


def test_demo_without_a_watchlist_here_says_where_it_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(tmp_path / "elsewhere.yaml"))
    (tmp_path / "elsewhere.yaml").write_text("brands:\n  HP:\n    x: [HP]\n")
    result = CliRunner().invoke(main, ["demo"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "followerledger: error: watchlist.yaml: not found; the demo reads the watchlist in the "
        "current folder (FOLLOWERLEDGER_WATCHLIST is not used): run it from the project's folder"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.yaml"]
