"""Time travel (issue 14): `DeltaLake.snapshot(as_of=)` and `followerledger query --as-of`,
against real Delta tables (a migrated warehouse plus Delta landings) and the real catalog."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner, Result
from deltalake import DeltaTable

from followerledger.cli import main
from followerledger.delta_lake import OBSERVATIONS, RUN_LOG, DeltaLake, DeltaLakeError
from followerledger.history_import import read_history
from followerledger.lake_as_of import AsOfError, parse_as_of
from followerledger.layout import WarehouseLayout
from tests.delta_history import FIRST, History, build_history
from tests.old_lake import old_lake, write_import


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    """One warehouse for the module: no test here changes it."""
    return build_history(tmp_path_factory.mktemp("as-of"))


@pytest.fixture
def warehouse(history: History, monkeypatch: pytest.MonkeyPatch) -> History:
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(history.warehouse))
    monkeypatch.delenv("FOLLOWERLEDGER_LAKE", raising=False)
    return history


def lake(history: History) -> DeltaLake:
    return DeltaLake(history.layout.lake_uri)


def ask(sql: str, as_of: str | None = None) -> Result:
    options = ["--as-of", as_of] if as_of is not None else []
    return CliRunner().invoke(main, ["query", *options, sql, "--format", "csv"])


def count(sql: str, as_of: str) -> int:
    result = ask(sql, as_of)
    assert result.exit_code == 0, result.output
    return int(result.stdout.splitlines()[1])


def test_the_history_has_versions_that_differ(history: History) -> None:
    versions = sorted(history.committed[OBSERVATIONS.name])
    counts = [history.rows(OBSERVATIONS, v) for v in versions]
    assert len(versions) >= 4
    assert len(set(counts)) >= 3


def test_a_snapshot_as_of_a_time_is_the_version_in_effect_then(history: History) -> None:
    delta = lake(history)
    committed = history.committed[OBSERVATIONS.name]
    uri = history.uri(OBSERVATIONS)
    for version, moment in committed.items():
        assert delta.commit_time(OBSERVATIONS, version) == moment
        for at in (moment, moment + timedelta(minutes=59)):
            snapshot = delta.snapshot(OBSERVATIONS, as_of=at)
            expected = history.in_effect(OBSERVATIONS, at)
            assert snapshot.version == expected
            files = {file.path for file in snapshot.files}
            assert files == set(DeltaTable(uri, version=expected).file_uris())
            assert snapshot.rows == history.rows(OBSERVATIONS, expected)
            # Polars resolves the time as delta-rs does, so an outside reader agrees.
            polars_rows = pl.scan_delta(uri, version=at).select(pl.len()).collect().item()
            assert polars_rows == snapshot.rows
    # A minute before the first commit: delta-rs would give version 0, but nothing existed.
    before = delta.snapshot(OBSERVATIONS, as_of=FIRST - timedelta(minutes=1))
    assert (before.version, before.files) == (None, ())
    latest = delta.snapshot(OBSERVATIONS, as_of=FIRST + timedelta(days=365))
    assert latest.version == max(committed)


def test_snapshot_refuses_what_names_no_version(history: History) -> None:
    delta = lake(history)
    latest = max(history.committed[OBSERVATIONS.name])
    with pytest.raises(DeltaLakeError, match=f"no version {latest + 1}: the latest is {latest}"):
        delta.snapshot(OBSERVATIONS, version=latest + 1)
    with pytest.raises(DeltaLakeError, match="versions count from 0"):
        delta.snapshot(OBSERVATIONS, version=-1)
    with pytest.raises(ValueError, match="time zone"):
        delta.snapshot(OBSERVATIONS, as_of=datetime(2026, 11, 20, 3))
    with pytest.raises(ValueError, match="not both"):
        delta.snapshot(OBSERVATIONS, version=0, as_of=FIRST)


def test_query_as_of_each_version_counts_that_versions_rows(warehouse: History) -> None:
    sql = "select count(*) from observations"
    counts = {}
    for version in sorted(warehouse.committed[OBSERVATIONS.name]):
        counts[version] = count(sql, str(version))
        assert counts[version] == warehouse.rows(OBSERVATIONS, version)
    assert len(set(counts.values())) >= 3
    # Partition columns come from the files' paths, as of that version too.
    last = max(counts)
    platforms = ask("select platform, count(*) from observations group by 1 order by 1", str(last))
    table = DeltaTable(warehouse.uri(OBSERVATIONS), version=last).to_pyarrow_table()
    expected = Counter(table["platform"].to_pylist())
    assert platforms.stdout.splitlines()[1:] == [f"{p},{n}" for p, n in sorted(expected.items())]


def test_the_run_log_is_read_as_of_the_observations_versions_commit(warehouse: History) -> None:
    for version, moment in warehouse.committed[OBSERVATIONS.name].items():
        in_effect = warehouse.in_effect(RUN_LOG, moment)
        rows = count("select count(*) from run_log", str(version))
        assert rows == warehouse.rows(RUN_LOG, in_effect)
    # Migrated lake rows have no run record: version 0 has none, the last has both runs'.
    assert count("select count(*) from run_log", "0") == 0
    assert count("select count(*) from run_log", str(max(warehouse.committed["run_log"]))) > 0


@pytest.mark.parametrize(
    "written",
    [
        "{iso}",  # as given, with +00:00
        "{utc}Z",
        "{utc}",  # no offset: UTC
        "{plus_one}+01:00",
    ],
)
def test_query_as_of_a_time(warehouse: History, written: str) -> None:
    versions = sorted(warehouse.committed[OBSERVATIONS.name])
    version = versions[2]
    moment = warehouse.committed[OBSERVATIONS.name][version] + timedelta(minutes=30)
    text = written.format(
        iso=moment.isoformat(),
        utc=moment.replace(tzinfo=None).isoformat(),
        plus_one=(moment.replace(tzinfo=None) + timedelta(hours=1)).isoformat(),
    )
    assert count("select count(*) from observations", text) == warehouse.rows(OBSERVATIONS, version)
    in_effect = warehouse.in_effect(RUN_LOG, moment)
    assert count("select count(*) from run_log", text) == warehouse.rows(RUN_LOG, in_effect)


def test_a_date_alone_is_its_midnight_utc(warehouse: History) -> None:
    next_day = (FIRST + timedelta(days=1)).date().isoformat()
    latest = max(warehouse.committed[OBSERVATIONS.name])
    assert count("select count(*) from observations", next_day) == warehouse.rows(
        OBSERVATIONS, latest
    )
    assert parse_as_of("2026-11-20") == FIRST


def test_the_marts_stay_current(warehouse: History) -> None:
    sql = "select count(*) as n, max(followers) as most from daily_followers"
    current = ask(sql)
    assert (current.exit_code, current.stdout) == (0, "n,most\n2,7\n")
    for version in warehouse.committed[OBSERVATIONS.name]:
        assert ask(sql, str(version)).stdout == current.stdout


@pytest.mark.parametrize("value", ["yesterday", "1.5", "-3", "v2", "2026-13-01", "", "1e3"])
def test_a_bad_value_is_one_line_naming_the_option(warehouse: History, value: str) -> None:
    result = ask("select count(*) from observations", value)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"followerledger: error: --as-of {value!r}: expected a version")
    assert "ISO 8601 time" in result.stderr
    with pytest.raises(AsOfError):
        parse_as_of(value)


def test_a_version_the_table_does_not_have_is_one_line(warehouse: History) -> None:
    latest = max(warehouse.committed[OBSERVATIONS.name])
    result = ask("select 1", str(latest + 5))
    assert result.exit_code == 2
    assert result.stderr == (
        f"followerledger: error: --as-of '{latest + 5}': observations: no version "
        f"{latest + 5}: the latest is {latest}\n"
    )


def test_a_time_before_the_first_version_is_one_line(warehouse: History) -> None:
    result = ask("select 1", "2026-11-19T12:00:00Z")
    assert result.exit_code == 2
    assert result.stderr == (
        "followerledger: error: --as-of '2026-11-19T12:00:00Z': the lake has no version of "
        "observations at or before 2026-11-19T12:00:00+00:00 (its table did not exist yet)\n"
    )


def test_the_connection_stays_confined_and_read_only(warehouse: History) -> None:
    refused = ask("select * from read_text('/etc/passwd')", "0")
    assert refused.exit_code == 2
    assert refused.stderr.startswith(
        "followerledger: error: query reads only the warehouse's marts and lake"
    )
    write = ask("drop view observations", "0")
    assert write.exit_code == 2
    assert "read-only" in write.stderr


def test_only_a_query_with_as_of_imports_deltalake(warehouse: History) -> None:
    code = (
        "import sys\n"
        "from followerledger.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('deltalake' in sys.modules, 'pydantic' in sys.modules)\n"
    )
    env = {"FOLLOWERLEDGER_WAREHOUSE": str(warehouse.warehouse), "PATH": "/usr/bin:/bin"}
    for options, expected in (([], "False False"), (["--as-of", "0"], "True False")):
        out = subprocess.run(
            [sys.executable, "-c", code, "query", *options, "select 1 as n", "--format", "csv"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        assert out.stdout.splitlines() == ["n", "1", expected]


def test_a_lake_of_run_files_is_one_line_saying_to_migrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "h.csv").write_text("observed_at,platform,handle,followers\n2026-01-01,x,HP,5\n")
    layout = WarehouseLayout.at(tmp_path / "warehouse")
    run_id, rows = read_history(tmp_path / "h.csv")
    write_import(old_lake(layout), run_id, rows)  # the old layout
    # The catalog the old version published (its views named the run files).
    layout.warehouse.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(layout.catalog)) as catalog:
        catalog.execute("create view observations as select 1 as n")
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(layout.warehouse))
    monkeypatch.delenv("FOLLOWERLEDGER_LAKE", raising=False)
    result = ask("select count(*) from observations", "0")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("followerledger: error: --as-of '0': ")
    assert result.stderr.endswith("run `followerledger migrate` first\n")
    # Without --as-of, the old catalog still answers (until `migrate` republishes it).
    assert (ask("select count(*) from observations").stdout) == "count_star()\n1\n"
