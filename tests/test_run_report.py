"""What a snapshot run reports: its artifacts and its alerts, from real flow runs."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import duckdb
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from pytest_httpserver import HTTPServer

from followerledger.artifacts import summary_markdown
from followerledger.flows.snapshot import snapshot_flow
from followerledger.history_import import import_history
from followerledger.run_changes import AccountChange
from followerledger.run_summary import PlatformSummary, RunSummary, of_run
from tests import tiny
from tests.conftest import Workspace

WATCHLIST = """\
brands:
  Dell:
    x: [DellOutlet, DellChannel, IdeaStormAction, DellYourBlog]
    bluesky: [dell.com]
alerts:
  milestones: [2000]
  drop_percent: 10
  stale_hours: 6
"""
T = datetime(2026, 11, 10, 9, tzinfo=UTC)


def change(handle: str, **values: Any) -> AccountChange:
    fields: dict[str, Any] = dict.fromkeys(AccountChange.__dataclass_fields__)
    return AccountChange(**{**fields, "brand": "Dell", "platform": "x", "handle": handle, **values})


def test_the_summary_shows_statuses_requests_cost_and_movers() -> None:
    result = RunSummary(
        "20261110T090000Z-abc",
        T,
        (
            PlatformSummary("x", {"ok": 2, "not_found": 1, "protected": 1}, requests=1, cost=0.04),
            PlatformSummary("bluesky", {"ok": 1}, requests=1),
        ),
    )
    assert [p.accounts for p in result.platforms] == [4, 1]
    changes = [
        change("Small", status="ok", followers=110, previous_followers=100, previous_at=T),
        change("Big", status="ok", followers=1500, previous_followers=2000, previous_at=T),
        change("Still", status="ok", followers=7, previous_followers=7, previous_at=T),
        change("Gone|Away", status="not_found", detail="Could not find user"),
    ]
    assert summary_markdown(result, changes) == (
        "# Snapshot run `20261110T090000Z-abc`\n"
        "\n"
        "Started 2026-11-10 09:00 UTC: 5 accounts on 2 platform(s), 2 request(s).\n"
        "\n"
        "| platform | accounts | ok | not found | suspended | error | other | requests | cost |\n"
        "|---|---|---|---|---|---|---|---|---|\n"
        "| x | 4 | 2 | 1 | 0 | 0 | 1 | 1 | 0.04 |\n"
        "| bluesky | 1 | 1 | 0 | 0 | 0 | 0 | 1 |  |\n"
        "\n"
        "## Biggest movers since the previous run\n"
        "\n"
        "| account | brand | followers | change | change % | previous count at |\n"
        "|---|---|---|---|---|---|\n"
        "| x Big | Dell | 1,500 | -500 | -25.00% | 2026-11-10 09:00 UTC |\n"
        "| x Small | Dell | 110 | +10 | +10.00% | 2026-11-10 09:00 UTC |\n"
        "\n"
        "## Accounts without a count in this run\n"
        "\n"
        "| account | brand | status | detail |\n"
        "|---|---|---|---|\n"
        "| x Gone\\|Away | Dell | not_found | Could not find user |\n"
    )


def artifacts_of(flow_run_id: UUID) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                )
            )
            # A keyless artifact shows as 'None' (and fails the tests' key lists).
            return {str(artifact.key): artifact for artifact in found}

    return asyncio.run(read())


def land_history(workspace: Workspace, now: datetime) -> None:
    """Counts from before the live runs: DellOutlet just below 2,000 a moment ago, DellChannel
    far above its live count at yesterday's close, DellYourBlog last counted 30 hours ago."""
    yesterday_noon = datetime.combine(now.date() - timedelta(days=1), datetime.min.time(), UTC)
    rows = [
        (now - timedelta(minutes=2), "DellOutlet", 1000),
        (yesterday_noon + timedelta(hours=12), "DellChannel", 1_000_000_000),
        (now - timedelta(hours=30), "DellYourBlog", 50),
    ]
    history = workspace.root / "history.csv"
    history.write_text(
        "observed_at,platform,handle,followers\n"
        + "".join(f"{when.isoformat()},x,{handle},{count}\n" for when, handle, count in rows),
        encoding="utf-8",
    )
    import_history(history, workspace.settings.layout)


@pytest.fixture
def alerting(
    workspace: Workspace, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> Workspace:
    """The workspace with alert rules, a webhook receiving alerts, and earlier counts."""
    workspace.watchlist.write_text(WATCHLIST, encoding="utf-8")
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    monkeypatch.setenv("FOLLOWERLEDGER_ALERT_URLS", f"json://127.0.0.1:{httpserver.port}/hook")
    land_history(workspace, datetime.now(UTC))
    return workspace


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_snapshot_run_publishes_its_artifacts_and_alerts_once_per_event(
    alerting: Workspace, httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = alerting
    state = snapshot_flow(return_state=True)
    run_id = of_run(state.result()).run_id
    live = {
        row["requested_handle"]: row["followers"]
        for row in tiny.lake_rows(workspace.lake)
        if row["run_id"] == run_id
    }
    assert state.state_details.flow_run_id is not None
    found = artifacts_of(state.state_details.flow_run_id)
    assert sorted(found) == ["snapshot-platforms", "snapshot-progress", "snapshot-summary"]
    assert found["snapshot-progress"].type == "progress"
    assert found["snapshot-progress"].data == 100.0  # its one shard landed
    assert found["snapshot-platforms"].type == "table"
    assert json.loads(found["snapshot-platforms"].data) == [
        {"platform": "x", "accounts": 4, "ok": 2, "not_found": 1, "suspended": 1, "error": 0,
         "other": 0, "requests": 1, "cost": 0.02},
        {"platform": "bluesky", "accounts": 1, "ok": 1, "not_found": 0, "suspended": 0,
         "error": 0, "other": 0, "requests": 1, "cost": None},
    ]  # fmt: skip
    markdown = found["snapshot-summary"].data
    assert f"# Snapshot run `{run_id}`" in markdown
    assert f"| x DellOutlet | Dell | {live['DellOutlet']:,} | {live['DellOutlet'] - 1000:+,} |" in (
        markdown
    )
    assert "| x IdeaStormAction | Dell | suspended | User has been suspended" in markdown

    snapshot_flow()  # the same events again: nothing new to say
    titles = [json.loads(request.get_data())["title"] for request, _ in httpserver.log]
    assert len(titles) == 3
    drop, milestone, stale = sorted(titles)
    assert drop.startswith("DellChannel lost ")
    assert drop.endswith(f"% of its followers on {datetime.now(UTC).date()}")
    assert milestone == "DellOutlet reached 2,000 followers"
    assert stale == "DellYourBlog has no fresh follower count"

    # Each failed run is an event of its own: one alert per run, secrets kept out.
    monkeypatch.delenv("X_BEARER_TOKEN")
    failed = [snapshot_flow(return_state=True) for _ in range(2)]
    assert all(state.is_failed() for state in failed)
    messages = [json.loads(request.get_data()) for request, _ in httpserver.log][3:]
    assert len(messages) == 2
    for message, state in zip(messages, failed, strict=True):
        assert message["title"].startswith("followerledger snapshot run ")
        assert message["title"].endswith(" failed")
        assert "X_BEARER_TOKEN is not set" in message["message"]
        assert str(state.state_details.flow_run_id) in message["message"]
        assert f"127.0.0.1:{httpserver.port}/hook" not in json.dumps(message)


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_overlapping_snapshot_runs_both_land_and_alert_once(
    alerting: Workspace, httpserver: HTTPServer
) -> None:
    workspace = alerting
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda _: of_run(snapshot_flow()), range(2)))

    assert len({result.run_id for result in results}) == 2
    with duckdb.connect(str(workspace.catalog), read_only=True) as connection:
        assert connection.sql(
            "select count(*) from observations where source = 'emulator'"
        ).fetchall() == [(10,)]
    titles = sorted(json.loads(request.get_data())["title"] for request, _ in httpserver.log)
    assert len(titles) == 3
    assert titles[1:] == [
        "DellOutlet reached 2,000 followers",
        "DellYourBlog has no fresh follower count",
    ]
