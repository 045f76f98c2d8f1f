"""The on-demand history import flow, run for real by Prefect."""

from __future__ import annotations

import duckdb
import pytest

from followerledger.delta_lake import OBSERVATIONS, delta_lake_of
from followerledger.flows.history_import import import_history_flow
from tests.conftest import Workspace

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_server")]


def test_the_import_flow_lands_publishes_and_refreshes(workspace: Workspace) -> None:
    history = workspace.root / "history.csv"
    history.write_text(
        "observed_at,platform,handle,followers\n"
        "2026-11-01,x,DellOutlet,1516\n"
        "2026-11-02,x,DellOutlet,1530\n"
        "2026-11-02,x,NotWatched,7\n",
        encoding="utf-8",
    )
    result = import_history_flow(file=str(history))
    assert (result["rows"], result["partitions"], result["unwatched_rows"]) == (3, 2, 1)
    snapshot = delta_lake_of(workspace.settings.layout).snapshot(OBSERVATIONS)
    assert (result["version"], snapshot.rows) == (snapshot.version, 3)
    with duckdb.connect(str(workspace.catalog), read_only=True) as connection:
        assert connection.sql(
            "select day::varchar, handle, followers from daily_followers order by day, handle"
        ).fetchall() == [
            ("2026-11-01", "DellOutlet", 1516),
            ("2026-11-02", "DellOutlet", 1530),
            ("2026-11-02", "NotWatched", 7),
        ]


def test_a_bad_file_fails_the_run_with_its_line_and_lands_nothing(workspace: Workspace) -> None:
    history = workspace.root / "history.csv"
    history.write_text(
        "observed_at,platform,handle,followers\n"
        "2026-11-01,x,DellOutlet,1516\n"
        "2026-11-02,x,DellOutlet,many\n",
        encoding="utf-8",
    )
    state = import_history_flow(file=str(history), return_state=True)
    assert state.is_failed()
    assert f"{history}:3: followers 'many' is not a whole number of 0 or more" in str(state.message)
    assert delta_lake_of(workspace.settings.layout).snapshot(OBSERVATIONS).version is None
