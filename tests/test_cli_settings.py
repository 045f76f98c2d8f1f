"""A bad `FOLLOWERLEDGER_*` setting is one line naming the variable, exit 2, in every command."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from followerledger.cli import main
from followerledger.settings import SettingsError, load_settings
from tests.conftest import Workspace

#: (variable, a value it cannot take). Each value holds "sekrit": it must never be echoed,
#: since a misplaced token could land in any variable.
BAD_SETTINGS = {
    "FOLLOWERLEDGER_HTTP_TIMEOUT": "sekrit-abc",
    "FOLLOWERLEDGER_RATE_BUDGETS": "x=sekrit",
    "FOLLOWERLEDGER_WAREHOUSE": "s3://sekrit/warehouse",
}

#: The settings each command reads, where not all of them: `query` stays light (no pydantic),
#: so it reads only where the warehouse and lake are, and a bad HTTP timeout is not its concern.
#: `demo` reads none: it builds every setting itself (test_demo.py checks a bad one is ignored).
READS_ONLY: dict[tuple[str, ...], set[str]] = {
    ("query",): {"FOLLOWERLEDGER_WAREHOUSE", "FOLLOWERLEDGER_LAKE"},
    ("demo",): set(),
}


def leaf_commands(
    group: click.Group, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every runnable command under the group, as (path of names, command)."""
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from leaf_commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def required_arguments(command: click.Command, tmp_path: Path) -> list[str]:
    """Plausible values for a command's required arguments, so that parsing succeeds."""
    values = []
    for parameter in command.params:
        if not isinstance(parameter, click.Argument) or not parameter.required:
            continue
        if isinstance(parameter.type, click.Choice):
            values.append(str(parameter.type.choices[0]))
        elif isinstance(parameter.type, click.Path):
            path = tmp_path / "history.csv"
            path.write_text("observed_at,platform,handle,followers\n2026-01-01,x,HP,5\n")
            values.append(str(path))
        elif parameter.name == "sql":
            values.append("select 1")
        else:
            values.append("HP")
    return values


CASES = [
    pytest.param(path, variable, id=f"{' '.join(path)}-{variable}")
    for path, _ in leaf_commands(main)
    for variable in BAD_SETTINGS
    if variable in READS_ONLY.get(path, BAD_SETTINGS)
]


def test_every_command_is_walked() -> None:
    names = {" ".join(path) for path, _ in leaf_commands(main)}
    assert {"demo", "query", "serve", "watchlist add", "watchlist remove", "emulator"} <= names
    assert len(CASES) == 3 * (len(names) - 2) + 1


@pytest.mark.parametrize(("path", "variable"), CASES)
def test_a_bad_setting_is_one_line_naming_it(
    path: tuple[str, ...], variable: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "watchlist.yaml").write_text("brands:\n  HP:\n    x: [HP]\n")
    for name in BAD_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, BAD_SETTINGS[variable])
    command = dict(leaf_commands(main))[path]
    result = CliRunner().invoke(main, [*path, *required_arguments(command, tmp_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"followerledger: error: {variable}: ")
    assert "Traceback" not in result.output
    assert "sekrit" not in result.output
    assert {p.name for p in tmp_path.iterdir()} <= {"watchlist.yaml", "history.csv"}


def test_settings_errors_name_the_variable_not_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("followerledger_http_timeout", "sekrit")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        "FOLLOWERLEDGER_HTTP_TIMEOUT: Input should be a valid number, unable to parse string "
        "as a number (set in the environment or .env)"
    )
    monkeypatch.delenv("followerledger_http_timeout")
    with pytest.raises(SettingsError) as caught:
        load_settings(rate_budgets="x=300/900,youtube=sekrit")
    assert str(caught.value) == (
        "FOLLOWERLEDGER_RATE_BUDGETS: entry 2 must read platform=requests/seconds, "
        "e.g. x=300/900 (set in the environment or .env)"
    )


@pytest.mark.parametrize("value", ["", "s3://bucket/warehouse"])
def test_query_and_settings_reject_the_same_warehouse(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from followerledger.layout import warehouse_location

    monkeypatch.chdir(tmp_path)
    # The environment wins over .env, even when empty, as pydantic-settings reads it.
    (tmp_path / ".env").write_text("FOLLOWERLEDGER_WAREHOUSE=/data/from-dotenv\n")
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", value)
    with pytest.raises(SettingsError) as from_settings:
        load_settings()
    with pytest.raises(SettingsError) as from_location:
        warehouse_location()
    assert str(from_settings.value) == str(from_location.value)
    assert str(from_location.value).startswith("FOLLOWERLEDGER_WAREHOUSE: must ")


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_command_run_in_this_process_leaves_the_environment_as_it_found_it(
    workspace: Workspace,
) -> None:
    """A command sets what its own process needs (Prefect's console level, telemetry off, the
    API URL); run in-process (a test's CliRunner, a notebook calling `main`), none of it may
    reach what runs after it: a worker started later with a WARNING console level never
    printed that it cancelled a run."""
    before = dict(os.environ)
    result = CliRunner().invoke(main, ["snapshot", "--platform", "bluesky"])
    assert result.exit_code == 0, result.output
    after = dict(os.environ)
    assert {k: v for k, v in after.items() if before.get(k) != v} == {}
    assert sorted(set(before) - set(after)) == []
