"""`followerledger query`: read-only, three formats, and light (no Prefect import)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from followerledger.cli import main
from followerledger.delta_lake import DeltaLake
from followerledger.history_import import import_history
from followerledger.layout import WarehouseLayout
from followerledger.query import QueryRefused, check_read_only, open_warehouse, render
from followerledger.refresh import refresh
from followerledger.watchlist import load_watchlist


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One warehouse for the module: no test here changes it (`query` cannot)."""
    root = tmp_path_factory.mktemp("query")
    (root / "watchlist.yaml").write_text("brands:\n  HP:\n    x: [HP]\n")
    (root / "h.csv").write_text(
        "observed_at,platform,handle,followers\n2026-01-01,x,HP,5\n2026-01-02,x,HP,7\n"
    )
    lake = DeltaLake(root / "warehouse/lake")
    import_history(root / "h.csv", WarehouseLayout.at(root / "warehouse", lake.root))
    refresh(
        WarehouseLayout.at(root / "warehouse", lake.root), load_watchlist(root / "watchlist.yaml")
    )
    return root / "warehouse"


@pytest.fixture
def warehouse(built: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(built))
    return built


@pytest.mark.parametrize(
    "sql",
    [
        "insert into observations values (1)",
        "delete from daily_followers",
        "copy (select 1) to '/tmp/out.csv'",
        "copy daily_followers to 'warehouse/marts/out.csv'",
        "export database 'warehouse/lake'",
        "attach 'other.duckdb'",
        "create table t (a int)",
        "set threads = 1",
        "pragma version",
        "select 1; drop view observations",
        "install httpfs",
        "load httpfs",
        "set enable_external_access = true",
        "reset lock_configuration",
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


def test_sql_errors_keep_duckdbs_whole_message(warehouse: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["query", "select nope from observations"])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("followerledger: error: Binder Error: ")
    assert "Candidate bindings" in result.stderr
    result = runner.invoke(main, ["query", "select * from daily_folowers"])
    assert result.exit_code == 1
    assert 'Did you mean "daily_followers"' in result.stderr


def test_syntax_errors_keep_the_caret(warehouse: Path) -> None:
    result = CliRunner().invoke(main, ["query", "select 1 frm daily_followers"])
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith("followerledger: error: Parser Error: syntax error at or near")
    source = next(line for line in lines if line.startswith("LINE 1: "))
    caret = lines[lines.index(source) + 1]
    assert source[caret.index("^") :].startswith("daily_followers")


def test_several_statements_are_refused_in_one_line(warehouse: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["query", "select 1; select 2"])
    assert result.exit_code == 2
    assert result.stderr == (
        "followerledger: error: query runs one statement at a time and was given 2; "
        "run each on its own\n"
    )
    trailing = runner.invoke(main, ["query", "select 2 as n;", "--format", "csv"])
    assert (trailing.exit_code, trailing.stdout) == (0, "n\n2\n")


@pytest.fixture
def outside(warehouse: Path) -> Path:
    """A file beside the warehouse that query must not read."""
    path = warehouse.parent / "private.txt"
    path.write_text("top secret\n")
    (warehouse / "_prefect").mkdir(exist_ok=True)
    (warehouse / "_prefect" / "prefect.db").write_text("top secret\n")
    return path


@pytest.mark.parametrize(
    "sql",
    [
        "select * from read_csv('/etc/passwd')",
        "select * from read_text('/etc/passwd')",
        "select * from read_text('{outside}')",
        "select * from read_blob('{outside}')",
        "select * from read_text('{warehouse}/lake/../../private.txt')",
        "select * from read_text('{warehouse}/_prefect/prefect.db')",
        "select * from glob('{warehouse}/*')",
        "select * from read_csv('https://example.com/data.csv')",
    ],
)
def test_query_reads_only_the_warehouse(warehouse: Path, outside: Path, sql: str) -> None:
    result = CliRunner().invoke(main, ["query", sql.format(outside=outside, warehouse=warehouse)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(
        "followerledger: error: query reads only the warehouse's marts and lake: "
        "Permission Error: Cannot access file"
    )
    assert "secret" not in result.stderr
    assert "root:" not in result.stderr


@pytest.mark.parametrize(
    "sql",
    [
        "copy (select 1) to '{warehouse}/../out.csv'",
        "attach '{warehouse}/other.duckdb'",
        "install httpfs",
        "load httpfs",
        "set enable_external_access = true",
        "reset enable_external_access",
        "set lock_configuration = false",
        "set allowed_directories = ['/']",
    ],
)
def test_the_warehouse_connection_itself_is_confined(warehouse: Path, sql: str) -> None:
    connection = open_warehouse(
        warehouse / "followerledger.duckdb", [warehouse / "marts", warehouse / "lake"]
    )
    try:
        with pytest.raises((duckdb.PermissionException, duckdb.InvalidInputException)):
            connection.execute(sql.format(warehouse=warehouse))
        assert connection.sql("select count(*) from observations").fetchall() == [(2,)]
        assert connection.sql("select max(followers) from daily_followers").fetchall() == [(7,)]
    finally:
        connection.close()
    assert not (warehouse.parent / "out.csv").exists()
    assert not (warehouse / "other.duckdb").exists()


@pytest.mark.parametrize("as_uri", [False, True])
def test_a_lake_outside_the_warehouse_is_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, as_uri: bool
) -> None:
    (tmp_path / "watchlist.yaml").write_text("brands:\n  HP:\n    x: [HP]\n")
    (tmp_path / "h.csv").write_text("observed_at,platform,handle,followers\n2026-01-01,x,HP,5\n")
    lake = DeltaLake(tmp_path / "elsewhere")
    import_history(tmp_path / "h.csv", WarehouseLayout.at(tmp_path / "warehouse", lake.root))
    refresh(
        WarehouseLayout.at(tmp_path / "warehouse", lake.root),
        load_watchlist(tmp_path / "watchlist.yaml"),
    )
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path / "warehouse"))
    where = tmp_path / "elsewhere"
    monkeypatch.setenv("FOLLOWERLEDGER_LAKE", where.as_uri() if as_uri else str(where))
    sql = (
        "select (select count(*) from observations) as rows, max(followers) as most "
        "from daily_followers"
    )
    result = CliRunner().invoke(main, ["query", sql, "--format", "csv"])
    assert (result.exit_code, result.stdout) == (0, "rows,most\n1,5\n")
    # The warehouse folder beside the marts is not part of the allowed lake.
    refused = CliRunner().invoke(main, ["query", f"select * from glob('{tmp_path}/*')"])
    assert refused.exit_code == 2


@pytest.mark.parametrize(
    ("lake", "said"),
    [
        (
            "s3://bucket/lake?secret_key=sekrit",
            "an s3:// lake is s3://bucket/prefix; its endpoint, region and keys come from the "
            "AWS_* variables, never from the URI",
        ),
        (
            "s3://AKIA:sekrit@bucket/lake",
            "an s3:// lake is s3://bucket/prefix; its endpoint, region and keys come from the "
            "AWS_* variables, never from the URI",
        ),
        (
            "gs://bucket/lake?token=sekrit",
            "DuckDB reads a local lake (a path or file:// URI) or an s3:// one, not a gs:// one",
        ),
    ],
)
def test_a_lake_duckdb_cannot_read_is_refused_without_echoing_it(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch, lake: str, said: str
) -> None:
    monkeypatch.setenv("FOLLOWERLEDGER_LAKE", lake)
    result = CliRunner().invoke(main, ["query", "select 1"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"followerledger: error: FOLLOWERLEDGER_LAKE: {said} (set in the environment or .env)\n"
    )
    assert "sekrit" not in result.output


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
        "print(any(m in sys.modules for m in ('prefect', 'pydantic_settings', 'pyarrow')))\n"
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
    from followerledger.layout import WarehouseLayout, warehouse_location
    from followerledger.settings import load_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("FOLLOWERLEDGER_WAREHOUSE", raising=False)
    assert warehouse_location() == load_settings().warehouse == Path("warehouse")
    (tmp_path / ".env").write_text("followerledger_warehouse=/data/from-dotenv\n")
    assert warehouse_location() == load_settings().warehouse == Path("/data/from-dotenv")
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", "/data/from-env")
    assert warehouse_location() == load_settings().warehouse == Path("/data/from-env")
    assert WarehouseLayout.from_environment().catalog == load_settings().layout.catalog
    assert WarehouseLayout.from_environment() == load_settings().layout
