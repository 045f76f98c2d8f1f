"""A run that counted nothing is not "landed"; long waits speak (issue 11, items 5 and 7)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
import uuid
from datetime import UTC, datetime
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.sorting import FlowRunSort
from prefect.logging.handlers import APILogHandler
from pytest_httpserver import HTTPServer

from followerledger.artifacts import summary_markdown
from followerledger.cli import main
from followerledger.emulator import EmulatorServer, EmulatorState, Fault
from followerledger.flows.snapshot import snapshot_flow
from followerledger.layout import WarehouseLayout
from followerledger.run_outcome import CountedNothing, counted_nothing, partly_counted
from followerledger.run_summary import PlatformSummary, RunSummary
from followerledger.settings import load_settings
from followerledger.sources import build_source, missing_config
from followerledger.sources.base import Target
from tests import tiny
from tests.conftest import FakeClock, Workspace


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- pre-flight ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_token_fails_preflight_naming_the_setting(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", value)
    result = CliRunner().invoke(main, ["snapshot"])
    assert result.exit_code == 2
    assert result.output == (
        "followerledger: error: X_BEARER_TOKEN is empty: put the app's bearer token in the "
        "environment or .env (several: X_BEARER_TOKENS), or in the Prefect Secret block "
        "followerledger-x-bearer-token (or skip X with --platform)\n"
    )
    assert tiny.lake_files(workspace.lake) == ()


def test_an_empty_youtube_key_fails_preflight() -> None:
    settings = load_settings(youtube_api_key="")
    assert missing_config(settings, ["youtube", "bluesky"]) == [
        "YOUTUBE_API_KEY is empty: put a YouTube Data API v3 key in the environment or .env "
        "(several: YOUTUBE_API_KEYS), or in the Prefect Secret block "
        "followerledger-youtube-api-key (or skip YouTube with --platform)"
    ]


# --- what a platform's rows say ------------------------------------------------------------


def test_a_wrong_token_names_the_setting_to_fix(fake_clock: FakeClock) -> None:
    with EmulatorServer(EmulatorState(x_bearer_token="the-right-token")) as emulator:
        settings = load_settings(x_api_url=emulator.url, x_bearer_token="a-wrong-token")
        source = build_source("x", settings, clock=fake_clock, sleep=fake_clock.sleep)
        rows = source.fetch([Target("DellOutlet"), Target("HP")], "run-1")
        right = load_settings(x_api_url=emulator.url, x_bearer_token="the-right-token")
        [ok] = build_source("x", right).fetch([Target("DellOutlet")], "run-1")
    assert [(row.status, row.detail) for row in rows] == [
        ("error", "X rejected the token (HTTP 401: Unauthorized): check X_BEARER_TOKEN")
    ] * 2
    assert ok.status == "ok"


def test_a_refused_youtube_key_names_the_setting(httpserver: HTTPServer) -> None:
    # Google's answer to a key it will not take (contracts README, section 4: any 403 but
    # quotaExceeded is an auth or configuration error).
    message = "The request is missing a valid API key."
    httpserver.expect_request("/youtube/v3/channels").respond_with_json(
        {
            "error": {
                "code": 403,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": "forbidden"}],
                "status": "PERMISSION_DENIED",
            }
        },
        status=403,
    )
    settings = load_settings(
        youtube_api_url=httpserver.url_for("/youtube/v3"), youtube_api_key="key-0123"
    )
    [row] = build_source("youtube", settings).fetch([Target("@dell")], "run-1")
    assert (row.status, row.detail) == (
        "error",
        f"YouTube rejected the API key (HTTP 403: forbidden: {message}): check YOUTUBE_API_KEY",
    )


def test_an_unreachable_platform_says_where_and_why(fake_clock: FakeClock) -> None:
    port = closed_port()
    settings = load_settings(
        x_api_url=f"http://127.0.0.1:{port}", x_bearer_token="token-0123", http_attempts=2
    )
    source = build_source("x", settings, clock=fake_clock, sleep=fake_clock.sleep)
    [row] = source.fetch([Target("DellOutlet")], "run-1")
    assert (row.status, row.detail) == (
        "error",
        f"cannot reach x at http://127.0.0.1:{port}: connection refused (gave up after 2 attempts)",
    )


# --- the rule ------------------------------------------------------------------------------


def platform(name: str, statuses: dict[str, int], error: str | None = None) -> PlatformSummary:
    return PlatformSummary(name, statuses, requests=1, error_detail=error)


def test_a_platform_whose_every_account_got_error_counted_nothing() -> None:
    platforms = [
        platform("x", {"error": 5}, "X rejected the token (HTTP 401: Unauthorized): check X"),
        platform("bluesky", {"ok": 1, "error": 1}, "bluesky answered HTTP 503"),
        platform("mastodon", {"not_found": 2}),
        platform("youtube", {}),
    ]
    assert counted_nothing(platforms) == [
        "x counted nothing: X rejected the token (HTTP 401: Unauthorized): check X"
    ]
    assert partly_counted(platforms) == [
        "bluesky: 1 of 2 accounts got error (bluesky answered HTTP 503)"
    ]
    started = datetime(2026, 11, 10, 9, tzinfo=UTC)
    error = CountedNothing(RunSummary("r1", started, tuple(platforms)))
    assert str(error) == (
        "run r1 landed 9 rows but x counted nothing: X rejected the token "
        "(HTTP 401: Unauthorized): check X"
    )


def test_the_summary_says_the_run_failed_and_what_partly_failed() -> None:
    result = RunSummary(
        "r1",
        datetime(2026, 11, 10, 9, tzinfo=UTC),
        (
            platform("x", {"error": 2}, "cannot reach x at 127.0.0.1:9: connection refused"),
            platform("bluesky", {"ok": 1, "error": 1}, "bluesky answered HTTP 503"),
        ),
    )
    markdown = summary_markdown(result, [])
    assert (
        "**This run failed:** x counted nothing: cannot reach x at 127.0.0.1:9: "
        "connection refused.\n"
    ) in markdown
    partly = "**Partly counted:** bluesky: 1 of 2 accounts got error (bluesky answered HTTP 503)."
    assert f"{partly}\n" in markdown
    clean = summary_markdown(dataclasses.replace(result, platforms=(platform("x", {"ok": 2}),)), [])
    assert "failed" not in clean
    assert "Partly" not in clean


# --- long waits speak ----------------------------------------------------------------------


def test_a_429_wait_logs_a_warning_saying_until_when(
    fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with EmulatorServer(EmulatorState(clock=fake_clock)) as emulator:
        emulator.state.faults.add(Fault("x", "rate_limit", seconds=300))
        settings = load_settings(x_api_url=emulator.url, x_bearer_token="t")
        source = build_source("x", settings, clock=fake_clock, sleep=fake_clock.sleep)
        with caplog.at_level(logging.WARNING):
            [row] = source.fetch([Target("DellOutlet")], "run-1")
    assert row.status == "ok"
    assert fake_clock.sleeps == [300.0]
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "x: rate-limited (429), waiting 300 s until 12:05:00 UTC")
    ]


def test_a_spent_budget_wait_logs_a_warning(
    fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    state = EmulatorState(clock=fake_clock, limits={"x": (1, 60)})
    with EmulatorServer(state) as emulator:
        settings = load_settings(x_api_url=emulator.url, x_bearer_token="t")
        source = build_source("x", settings, clock=fake_clock, sleep=fake_clock.sleep)
        with caplog.at_level(logging.WARNING):
            source.fetch([Target("DellOutlet")], "run-1")
            assert caplog.records == []
            [row] = source.fetch([Target("HP")], "run-1")
    assert row.status == "ok"
    assert fake_clock.sleeps == [60.0]
    assert [r.getMessage() for r in caplog.records] == [
        "x: rate budget spent (0 of 1 requests left), waiting 60 s until 12:01:00 UTC"
    ]


# --- real flow runs ------------------------------------------------------------------------


def latest_snapshot_run() -> FlowRun:
    async def read() -> FlowRun:
        async with get_client() as client:
            [run] = await client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=1)
            return run

    return asyncio.run(read())


def summary_of(flow_run_id: Any) -> str:
    async def read() -> str:
        async with get_client() as client:
            [found] = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
                    key={"any_": ["snapshot-summary"]},
                )
            )
            return str(found.data)

    return asyncio.run(read())


def logs_of(flow_run_id: Any) -> list[tuple[int, str]]:
    async def read() -> list[tuple[int, str]]:
        await APILogHandler.aflush()  # logs reach the server in batches
        async with get_client() as client:
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
            return [(log.level, log.message) for log in logs]

    return asyncio.run(read())


@pytest.fixture
def hook(httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch) -> HTTPServer:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    monkeypatch.setenv("FOLLOWERLEDGER_ALERT_URLS", f"json://127.0.0.1:{httpserver.port}/hook")
    return httpserver


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_wrong_token_lands_error_rows_then_fails_the_run(
    workspace: Workspace, hook: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    workspace.emulator.state.x_bearer_tokens = frozenset({"the-right-token"})
    # Meanwhile Bluesky makes the run wait for a rate limit once: the wait is said.
    workspace.emulator.state.faults.add(Fault("bluesky", "rate_limit", seconds=1))
    with caplog.at_level(logging.INFO):
        result = CliRunner().invoke(main, ["snapshot"])
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[:2] == [
        "x: 5 accounts (error 5) in 1 requests",
        "bluesky: 2 accounts (ok 2) in 2 requests",
    ]
    [run_line] = [line for line in lines[2:] if "counted nothing" in line]
    assert run_line.startswith("followerledger: error: run ")
    assert run_line.endswith(
        " landed 7 rows but x counted nothing: X rejected the token (HTTP 401: Unauthorized): "
        "check X_BEARER_TOKEN"
    )
    assert not any(line.endswith(" landed") for line in lines)
    # Nothing lost: both platforms' rows are in the lake, X's saying why.
    rows = [row for row in tiny.lake_rows(workspace.lake) if row["platform"] in ("x", "bluesky")]
    assert sorted((r["platform"], r["status"]) for r in rows) == [
        ("bluesky", "ok"),
        ("bluesky", "ok"),
        *[("x", "error")] * 5,
    ]
    flow_run = latest_snapshot_run()
    assert flow_run.state is not None
    assert flow_run.state.is_failed()
    assert "x counted nothing: X rejected the token" in str(flow_run.state.message)
    summary = summary_of(flow_run.id)
    assert "**This run failed:** x counted nothing: X rejected the token" in summary
    [alert] = [json.loads(request.get_data()) for request, _ in hook.log]
    assert alert["title"].endswith(" failed")
    assert "x counted nothing: X rejected the token (HTTP 401: Unauthorized)" in alert["message"]
    assert "check X_BEARER_TOKEN" in alert["message"]
    assert "the-right-token" not in json.dumps(alert)
    assert "emulator-bearer-token" not in json.dumps(alert)
    # The wait went through the logger of the shard's task run (its sources are built in
    # it): to the console (stderr, Prefect's console handler) and with the run in Prefect.
    wait = "bluesky: rate-limited (429), waiting 1 s until "
    [record] = [r for r in caplog.records if r.getMessage().startswith(wait)]
    assert (record.levelno, record.name) == (logging.WARNING, "prefect.task_runs")
    assert record.getMessage().endswith(" UTC")
    assert any(
        level == logging.WARNING and message.startswith(wait)
        for level, message in logs_of(flow_run.id)
    )


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_an_unreachable_platform_fails_the_run_and_the_others_land(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    monkeypatch.setenv("FOLLOWERLEDGER_BLUESKY_API_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("FOLLOWERLEDGER_HTTP_ATTEMPTS", "1")
    state = snapshot_flow(return_state=True)
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, CountedNothing)
    by_platform = {p.platform: p.statuses for p in error.result.platforms}
    assert by_platform == {"x": {"ok": 3, "not_found": 1, "suspended": 1}, "bluesky": {"error": 2}}
    assert str(error).endswith(
        f" landed 7 rows but bluesky counted nothing: cannot reach bluesky at "
        f"http://127.0.0.1:{port}: connection refused (gave up after 1 attempts)"
    )
    assert sorted(item.platform for item in tiny.lake_files(workspace.lake)) == [
        "bluesky",
        "x",
    ]


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_the_hourly_flow_refreshes_a_run_that_counted_nothing_then_fails_once(
    workspace: Workspace, hook: HTTPServer
) -> None:
    from followerledger.flows.hourly import snapshot_and_refresh_flow

    workspace.emulator.state.x_bearer_tokens = frozenset({"the-right-token"})
    state = snapshot_and_refresh_flow(return_state=True)
    assert state.is_failed()
    assert "x counted nothing: X rejected the token" in str(state.message)
    # The marts and the report were brought up to date with the rows that landed.
    with duckdb.connect(str(workspace.catalog), read_only=True) as connection:
        statuses = connection.sql(
            "select platform, status, count(*) from accounts group by all order by all"
        ).fetchall()
    assert statuses == [("bluesky", "ok", 2), ("x", "error", 5)]
    assert WarehouseLayout.at(workspace.warehouse).report.is_file()
    # One alert: the hourly run's (the snapshot subflow's failure is part of it).
    [alert] = [json.loads(request.get_data()) for request, _ in hook.log]
    assert alert["title"].startswith("followerledger snapshot-and-refresh run ")
    assert "x counted nothing" in alert["message"]


class StopWaiting(Exception):
    """Raised by a test's sleep: the test has seen what it waited for."""


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_spent_shared_budget_logs_a_warning_before_it_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from followerledger.sources.prefect_budgets import PrefectBudget, limit_name
    from followerledger.sources.throttle import RatePolicy

    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        raise StopWaiting

    policy = RatePolicy(f"test-{uuid.uuid4().hex[:8]}", 10, 100)  # 1 request per 10 s
    budget = PrefectBudget(policy, sleep=sleep, clock=lambda: datetime(2024, 5, 1, 12, tzinfo=UTC))
    budget.reserve(10)
    with caplog.at_level(logging.WARNING), pytest.raises(StopWaiting):
        budget.reserve(5)
    assert len(pauses) == 1
    assert [r.getMessage() for r in caplog.records] == [
        f"{policy.name}: the shared request budget {limit_name(policy)} is spent (runs on "
        "every worker share it; 5 request slots needed), waiting about 50 s until 12:00:50 UTC"
    ]
