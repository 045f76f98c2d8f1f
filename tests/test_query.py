"""`followerledger query`: read-only, three formats, and light (no Prefect import)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from followerledger.cli import main
from followerledger.history_import import import_history
from followerledger.lake import Lake
from followerledger.query import QueryRefused, check_read_only, render
from followerledger.refresh import refresh
from followerledger.watchlist import load_watchlist


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "watchlist.yaml").write_text("brands:\n  HP:\n    x: [HP]\n")
    (tmp_path / "h.csv").write_text(
        "observed_at,platform,handle,followers\n2026-01-01,x,HP,5\n2026-01-02,x,HP,7\n"
    )
    lake = Lake(tmp_path / "warehouse/lake")
    import_history(tmp_path / "h.csv", lake)
    refresh(tmp_path / "warehouse", lake, load_watchlist(tmp_path / "watchlist.yaml"))
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path / "warehouse"))
    return tmp_path / "warehouse"


@pytest.mark.parametrize(
    "sql",
    [
        "insert into observations values (1)",
        "delete from daily_followers",
        "copy (select 1) to '/tmp/out.csv'",
        "attach 'other.duckdb'",
        "create table t (a int)",
        "set threads = 1",
        "pragma version",
        "select 1; drop view observations",
    ],
)
def test_writes_are_refused_in_one_line(warehouse: Path, sql: str) -> None:
    result = CliRunner().invoke(main, ["query", sql])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert result.output.startswith("followerledger: error: query is read-only and refuses ")
    with pytest.raises(QueryRefused):
        check_read_only(sql)


def test_reads_in_every_format(warehouse: Path) -> None:
    runner = CliRunner()
    sql = "select day, handle, followers from daily_followers order by day"
    csv_out = runner.invoke(main, ["query", sql, "--format", "csv"])
    assert csv_out.output == "day,handle,followers\n2026-01-01,HP,5\n2026-01-02,HP,7\n"
    json_out = runner.invoke(main, ["query", sql, "--format", "json"])
    assert json.loads(json_out.output) == [
        {"day": "2026-01-01", "handle": "HP", "followers": 5},
        {"day": "2026-01-02", "handle": "HP", "followers": 7},
    ]
    table = runner.invoke(main, ["query", sql]).output.splitlines()
    assert table[0] == "│ day        │ handle │ followers │"
    assert table[2] == "│ 2026-01-01 │ HP     │         5 │"
    assert table[-1] == "(2 rows)"
    assert runner.invoke(main, ["query", "describe daily_followers"]).exit_code == 0
    assert runner.invoke(main, ["query", "explain select * from accounts"]).exit_code == 0


def test_sql_errors_are_one_line(warehouse: Path) -> None:
    result = CliRunner().invoke(main, ["query", "select nope from observations"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "nope" in result.output


def test_missing_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path / "none"))
    result = CliRunner().invoke(main, ["query", "select 1"])
    assert result.exit_code == 2
    assert "does not exist yet" in result.output


def test_render_nulls_and_nested_values() -> None:
    out = render(["a", "b"], [(None, [{"handle": "x"}])], "csv")
    assert out == 'a,b\n,"[{""handle"": ""x""}]"'


def test_the_query_path_never_imports_prefect(warehouse: Path) -> None:
    code = (
        "import sys\n"
        "from followerledger.cli import main\n"
        "try:\n"
        "    main(['query', 'select count(*) from observations'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('prefect' in sys.modules or 'pydantic_settings' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"FOLLOWERLEDGER_WAREHOUSE": str(warehouse), "PATH": "/usr/bin:/bin"},
    )
    lines = out.stdout.strip().splitlines()
    assert lines[-1] == "False"
    assert lines[2].replace(" ", "") == "│2│"


def test_the_warehouse_is_found_as_settings_find_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from followerledger.location import catalog_location, warehouse_location
    from followerledger.settings import load_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FOLLOWERLEDGER_WAREHOUSE", raising=False)
    assert warehouse_location() == load_settings().warehouse == Path("warehouse")
    (tmp_path / ".env").write_text("followerledger_warehouse=/data/from-dotenv\n")
    assert warehouse_location() == load_settings().warehouse == Path("/data/from-dotenv")
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", "/data/from-env")
    assert warehouse_location() == load_settings().warehouse == Path("/data/from-env")
    assert catalog_location() == load_settings().catalog_path
