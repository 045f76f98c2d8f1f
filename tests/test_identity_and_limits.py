"""Stable identity across runs, shared rate budgets and rate-limited runs, through real flows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import pytest
from prefect.client.orchestration import get_client

from followerledger.emulator import Fault
from followerledger.emulator.world import Rename
from followerledger.flows.snapshot import snapshot_flow
from followerledger.layout import WarehouseLayout
from followerledger.refresh import refresh
from followerledger.run_outcome import CountedNothing
from followerledger.run_summary import of_run
from followerledger.watchlist import load_watchlist
from tests.conftest import Workspace

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_server")]


def query(workspace: Workspace, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(workspace.catalog), read_only=True) as connection:
        return connection.sql(sql).fetchall()


def test_a_renamed_account_keeps_one_history(workspace: Workspace) -> None:
    first = of_run(snapshot_flow())
    assert workspace.emulator.state.requests["x:/2/users/by"] == 1
    world = workspace.emulator.state.world
    world.renamed[("x", "delloutlet")] = Rename(
        "DellOutletNew", datetime.now(UTC) - timedelta(seconds=1)
    )
    world.renamed[("bluesky", "dell.com")] = Rename(
        "dell.bsky.social", datetime.now(UTC) - timedelta(seconds=1)
    )
    second = of_run(snapshot_flow())
    # Resolved accounts are now read by id: X by user id, Bluesky by DID.
    requests = workspace.emulator.state.requests
    assert requests["x:/2/users"] == 1
    assert requests["x:/2/users/by"] == 2  # the never-resolved ones are asked by name again
    x_second = next(p for p in second.platforms if p.platform == "x")
    assert x_second.statuses.get("ok", 0) == 3
    assert first.run_id != second.run_id
    refresh(
        WarehouseLayout.at(workspace.warehouse, workspace.lake.root),
        load_watchlist(workspace.watchlist),
    )
    accounts = query(
        workspace,
        "select account_key, handle, brand, "
        "list_transform(handles, lambda h: h.handle) from accounts "
        "where watched_handle in ('DellOutlet', 'dell.com') "
        "order by platform",
    )
    assert [(row[1], row[2], row[3]) for row in accounts] == [
        ("dell.bsky.social", "Dell", ["dell.com", "dell.bsky.social"]),
        ("DellOutletNew", "Dell", ["DellOutlet", "DellOutletNew"]),
    ]
    # Both runs fell on one UTC day: one account, one daily row, the day's last handle.
    days = query(
        workspace,
        "select daily.account_key, daily.handle, daily.samples "
        "from daily_followers as daily join accounts using (account_key) "
        "where accounts.watched_handle = 'DellOutlet'",
    )
    assert days == [(accounts[1][0], "DellOutletNew", 2)]
    history = query(
        workspace,
        "select handle from account_handles where account_key = "
        f"'{accounts[1][0]}' order by first_seen",
    )
    assert history == [("DellOutlet",), ("DellOutletNew",)]


def test_a_rate_limited_platform_gets_error_rows_and_the_others_land(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLLOWERLEDGER_MAX_RATE_LIMIT_WAIT", "30")
    workspace.emulator.state.faults.add(Fault("x", "rate_limit", seconds=3600, times=None))
    state = snapshot_flow(return_state=True)
    assert state.is_failed()  # X counted nothing; its rows and Bluesky's landed all the same
    error = state.result(raise_on_failure=False)
    assert isinstance(error, CountedNothing)
    assert "x counted nothing: x is rate-limited until " in str(error)
    result = error.result
    by_platform = {p.platform: p for p in result.platforms}
    assert by_platform["x"].statuses.get("error", 0) == 5
    assert by_platform["bluesky"].statuses.get("ok", 0) == 2
    details = query(workspace, "select distinct detail from observations where platform = 'x'")
    [(detail,)] = details
    assert str(detail).startswith("x is rate-limited until ")
    until = datetime.strptime(
        str(detail).removeprefix("x is rate-limited until "), "%Y-%m-%dT%H:%M:%SZ"
    ).replace(tzinfo=UTC)
    assert timedelta(minutes=55) < until - datetime.now(UTC) < timedelta(minutes=61)
    # One request found out; nothing hammered the limit afterwards.
    assert workspace.emulator.state.requests["x:/2/users/by"] == 1


def test_platform_budgets_are_prefect_rate_limits(workspace: Workspace) -> None:
    snapshot_flow()
    with get_client(sync_client=True) as client:
        x_limit = client.read_global_concurrency_limit_by_name("followerledger-x")
        bluesky = client.read_global_concurrency_limit_by_name("followerledger-bluesky")
    assert (x_limit.limit, round(x_limit.slot_decay_per_second, 4)) == (300, 0.3333)
    assert (bluesky.limit, bluesky.slot_decay_per_second) == (3000, 10.0)


def test_runs_relation_counts_what_the_emulator_saw(workspace: Workspace) -> None:
    result = of_run(snapshot_flow())
    refresh(
        WarehouseLayout.at(workspace.warehouse, workspace.lake.root),
        load_watchlist(workspace.watchlist),
    )
    runs = query(
        workspace,
        "select platform, requests, accounts, ok, not_found, suspended, "
        "error, x_billed_reads, x_estimated_cost_usd, source from runs "
        "order by platform",
    )
    assert runs == [
        ("bluesky", 1, 2, 2, 0, 0, 0, None, None, "emulator"),
        ("x", 1, 5, 3, 1, 1, 0, 3, Decimal("0.030"), "emulator"),
    ]
    assert query(workspace, "select distinct run_id from runs") == [(result.run_id,)]
