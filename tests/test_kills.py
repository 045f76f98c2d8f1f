"""`kill -9` at chosen points leaves a consistent store, and nothing behind (tests/kills.py).

The short version of the kill harness: one targeted point per command, and the real
`followerledger snapshot` killed with its temporary Prefect server running. The long
version is `make kills`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from followerledger.cli import main
from followerledger.emulator import EmulatorServer, emulator_environment
from tests import kills


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> kills.Template:
    return kills.make_template(tmp_path_factory.mktemp("kills") / "template")


@pytest.mark.parametrize("point", kills.SHORT_POINTS, ids=str)
def test_a_command_killed_before_a_commit_leaves_a_consistent_store_that_the_next_run_cleans(
    point: kills.Point, template: kills.Template, tmp_path: Path
) -> None:
    outcome = kills.try_point(point, template, tmp_path)

    assert outcome.killed
    assert outcome.visible_files > 0
    assert outcome.unreadable == ()
    assert outcome.warehouse_answers
    assert outcome.temporary_after == 0
    assert outcome.orphans_after == 0
    assert outcome.duplicate_rows == 0
    assert outcome.rows_after == outcome.rows_expected


def test_a_killed_snapshot_command_takes_its_temporary_prefect_server_along(
    template: kills.Template,
    tmp_path: Path,
    emulator: EmulatorServer,
    prefect_server: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    environment = emulator_environment(emulator.url)

    def rerun(root: Path) -> None:
        # The next run, in this process, on the test session's Prefect server.
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(root / "warehouse"))
        monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(root / "watchlist.yaml"))
        assert kills.temporaries(root / "warehouse") != []  # the killed run's, aged
        result = CliRunner().invoke(main, ["snapshot", "--run-id", kills.CLI_RUN_ID])
        assert result.exit_code == 0, result.output
        assert kills.temporaries(root / "warehouse") == []  # the snapshot flow swept them

    outcome, survivors = kills.cli_snapshot_point(template, tmp_path, emulator, rerun)

    assert outcome.killed
    assert survivors == []
    assert outcome.unreadable == ()
    assert outcome.warehouse_answers
    assert outcome.temporary_left >= 1  # the catalog it was about to swap in
    assert outcome.temporary_after == 0
    assert outcome.orphans_after == 0
    assert outcome.duplicate_rows == 0
    assert outcome.rows_after == outcome.rows_expected
