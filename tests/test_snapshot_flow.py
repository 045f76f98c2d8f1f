"""The snapshot flow, run for real by Prefect against the emulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import pytest
from click.testing import CliRunner
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
)

from followerledger.cli import main
from followerledger.emulator import Fault
from followerledger.flows.snapshot import snapshot_flow
from followerledger.layout import WarehouseLayout
from followerledger.refresh import refresh
from followerledger.report import write_report
from followerledger.run_outcome import CountedNothing
from followerledger.run_summary import of_run
from followerledger.shards import shard_of
from followerledger.watchlist import add_account, load_watchlist, normalize_handle
from tests import tiny
from tests.analyst import AnalystSession
from tests.conftest import Workspace

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_server")]


def lake_rows(workspace: Workspace) -> list[dict[str, Any]]:
    return tiny.lake_rows(workspace.lake)


def task_run_names(flow_run_id: UUID) -> list[str]:
    async def read() -> list[str]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            return sorted(run.name.rsplit("-", 1)[0] for run in runs)

    return asyncio.run(read())


def test_a_real_flow_run_lands_one_row_per_account(workspace: Workspace) -> None:
    state = snapshot_flow(return_state=True)
    result = of_run(state.result())
    assert {p.platform: p.accounts for p in result.platforms} == {"x": 5, "bluesky": 2}
    rows = lake_rows(workspace)
    watched = {(a.platform, a.handle) for a in load_watchlist(workspace.watchlist).accounts}
    assert sorted((r["platform"], r["requested_handle"]) for r in rows) == sorted(watched)
    assert {r["run_id"] for r in rows} == {result.run_id}
    statuses = {r["requested_handle"]: r["status"] for r in rows}
    assert statuses["IdeaStormAction"] == "suspended"
    assert statuses["DellYourBlog"] == "not_found"
    assert statuses["DellOutlet"] == "ok"
    assert {r["source"] for r in rows} == {"emulator"}
    files = tiny.lake_files(workspace.lake)
    assert sorted(f.platform for f in files) == ["bluesky", "x"]
    # Seven accounts make one shard (`auto`): one task for all its batches, never one per
    # batch or account; then the run's tail (catalog, costs, changes, artifacts, alerts).
    assert state.state_details.flow_run_id is not None
    assert task_run_names(state.state_details.flow_run_id) == [
        "load_identities",
        "price_run",
        "publish_catalog",
        "publish_run_artifacts",
        "read_account_changes",
        "send_alerts",
        "snapshot_shard",
    ]
    assert workspace.emulator.state.requests["x:/2/users/by"] == 1
    with duckdb.connect(str(workspace.catalog), read_only=True) as connection:
        assert connection.sql("select count(*) from observations").fetchall() == [(7,)]


def test_task_runs_are_the_shards_plus_a_fixed_few_and_progress_is_published(
    workspace: Workspace,
) -> None:
    state = snapshot_flow(shards=3, return_state=True)
    result = of_run(state.result())
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    names = task_run_names(flow_run_id)
    assert names.count("snapshot_shard") == 3
    assert len(names) == 3 + 6  # identities; catalog, price, changes, artifacts, alerts
    rows = lake_rows(workspace)
    assert len(rows) == 7  # every account exactly once, whatever its shard
    assert len({(r["platform"], r["requested_handle"]) for r in rows}) == 7
    assert {r["shard"] for r in rows} <= {0, 1, 2}
    assert {p.platform: p.accounts for p in result.platforms} == {"x": 5, "bluesky": 2}

    async def progress() -> list[float]:
        async with get_client() as client:
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                )
            )
            return [float(a.data) for a in artifacts if a.type == "progress"]  # type: ignore[arg-type]

    assert asyncio.run(progress()) == [100.0]


def test_rerunning_a_run_id_does_not_duplicate(workspace: Workspace) -> None:
    first = of_run(snapshot_flow(run_id="2026-11-26T10"))
    second = of_run(snapshot_flow(run_id="2026-11-26T10"))
    assert first.run_id == second.run_id == "2026-11-26T10"
    rows = lake_rows(workspace)
    assert len(rows) == 7
    assert len(tiny.lake_files(workspace.lake)) == 2


def test_one_platform_down_while_the_other_lands(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLLOWERLEDGER_HTTP_ATTEMPTS", "2")
    workspace.emulator.state.faults.add(Fault("bluesky", "status", code=503, times=None))
    state = snapshot_flow(return_state=True)
    # Bluesky counted nothing: the run fails, after every row (Bluesky's errors too) landed.
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, CountedNothing)
    result = error.result
    by_platform = {p.platform: p.statuses for p in result.platforms}
    assert by_platform["bluesky"] == {"error": 2}
    assert by_platform["x"]["ok"] == 3
    rows = [r for r in lake_rows(workspace) if r["platform"] == "bluesky"]
    assert {r["detail"] for r in rows} == {"bluesky answered HTTP 503 (gave up after 2 attempts)"}


def test_cli_snapshot_with_an_analyst_holding_the_warehouse_open(workspace: Workspace) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["snapshot", "--platform", "x"]).exit_code == 0
    with AnalystSession(workspace.catalog) as analyst:
        assert analyst.ask("select count(*) from observations") == "5"
        result = runner.invoke(main, ["snapshot"])
        assert result.exit_code == 0, result.output
        assert "x: 5 accounts" in result.output
        refreshed = runner.invoke(main, ["refresh"])
        assert refreshed.exit_code == 0, refreshed.output
        assert analyst.ask("select count(*) from observations") == "5"
    with AnalystSession(workspace.catalog) as analyst:
        assert analyst.ask("select count(*) from observations") == "12"
        assert analyst.ask("select count(distinct account_key) from daily_followers") == "5"


def test_cli_snapshot_refuses_bad_config_in_one_line(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("X_BEARER_TOKEN")
    result = CliRunner().invoke(main, ["snapshot"])
    assert result.exit_code == 2
    assert result.output.startswith("followerledger: error: X_BEARER_TOKEN is not set")
    assert "Prefect Secret block followerledger-x-bearer-token" in result.output
    assert result.output.count("\n") == 1
    only_bluesky = CliRunner().invoke(main, ["snapshot", "--platform", "bluesky"])
    assert only_bluesky.exit_code == 0, only_bluesky.output
    assert tiny.lake_files(workspace.lake)[0].platform == "bluesky"


def test_marts_after_a_flow_run(workspace: Workspace) -> None:
    snapshot_flow()
    refresh(
        WarehouseLayout.at(workspace.warehouse, workspace.lake.root),
        load_watchlist(workspace.watchlist),
    )
    with duckdb.connect(str(workspace.catalog), read_only=True) as connection:
        accounts = connection.sql(
            "select handle, brand, status from accounts order by brand, handle"
        ).fetchall()
    assert ("DellOutlet", "Dell", "ok") in accounts
    assert ("IdeaStormAction", "Dell", "suspended") in accounts
    assert len(accounts) == 7


def x_keys(workspace: Workspace) -> list[str]:
    """The watched X accounts' normalized handles, as shards are assigned by."""
    watched = load_watchlist(workspace.watchlist).for_platform("x")
    return [normalize_handle("x", account.handle) for account in watched]


def test_secrets_never_reach_lake_catalog_logs_or_prefect(
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    httpserver: Any,
    secret_blocks: Callable[[str, str], None],
) -> None:
    tokens = ["SECRET-bearer-7f3a9c1e5d", "SECRET-bearer-2b8e4d6f0a", "SECRET-bearer-c3a1f9e7b5"]
    key = "SECRET-key-41b7e2a09c"
    # Three X tokens from Prefect Secret blocks (the environment has none), one per shard of
    # a 3-shard run, and a key from the environment: all must be used, and all redacted.
    monkeypatch.delenv("X_BEARER_TOKEN")
    blocks = [
        "followerledger-x-bearer-token",
        *(f"followerledger-x-bearer-token-{n}" for n in (2, 3)),
    ]
    for block, token in zip(blocks, tokens, strict=True):
        secret_blocks(block, token)
    monkeypatch.setenv("YOUTUBE_API_KEY", key)
    monkeypatch.setenv("FOLLOWERLEDGER_SHARDS", "3")
    add_account(workspace.watchlist, "Acme", "youtube", "@acme")
    # X accounts in every shard, so that each shard sends its own token.
    extra = 0
    while {shard_of("x", key, 3) for key in x_keys(workspace)} != {0, 1, 2}:
        add_account(workspace.watchlist, "Acme", "x", f"Acme{extra}")
        extra += 1
    # Hostile upstreams that echo what they were sent (the bearer token, the URL with the
    # key) back in their errors.
    from werkzeug import Request, Response

    def echo_token(request: Request) -> Response:
        body = {"title": "Unauthorized", "detail": request.headers["Authorization"]}
        return Response(json.dumps(body), status=401, content_type="application/json")

    def echo_url(request: Request) -> Response:
        body = {
            "error": {
                "code": 400,
                "message": f"bad request {request.url}",
                "errors": [{"reason": "keyInvalid"}],
            }
        }
        return Response(json.dumps(body), status=400, content_type="application/json")

    httpserver.expect_request("/2/users/by").respond_with_handler(echo_token)
    httpserver.expect_request("/youtube/v3/channels").respond_with_handler(echo_url)
    monkeypatch.setenv("FOLLOWERLEDGER_X_API_URL", httpserver.url_for(""))
    monkeypatch.setenv("FOLLOWERLEDGER_YOUTUBE_API_URL", httpserver.url_for("/youtube/v3"))
    state = snapshot_flow(return_state=True)
    refresh(
        WarehouseLayout.at(workspace.warehouse, workspace.lake.root),
        load_watchlist(workspace.watchlist),
    )
    report = write_report(
        workspace.catalog, WarehouseLayout.at(workspace.warehouse).report, now=datetime.now(UTC)
    ).path
    assert "Unauthorized: Bearer ***" in report.read_text(encoding="utf-8")
    rows = lake_rows(workspace)
    # Each shard's token was echoed back, and each is masked; the detail names its block.
    assert {r["detail"] for r in rows if r["platform"] == "x"} == {
        f"X rejected the token (HTTP 401: Unauthorized: Bearer ***): check {block}"
        for block in blocks
    }
    [youtube] = [r["detail"] for r in rows if r["platform"] == "youtube"]
    assert "key=***" in youtube
    for path in Path(workspace.warehouse).rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for secret in [*tokens, key]:
                assert secret.encode() not in content, path
    # Everything our side logged (the fake platform's own access log naturally sees the key).
    ours = "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith("werkzeug")
    )
    assert "snapshot_shard" in ours or "Finished" in ours
    assert all(secret not in ours for secret in [*tokens, key])

    async def everything_prefect_stored() -> str:
        async with get_client() as client:
            flow_run_id = state.state_details.flow_run_id
            assert flow_run_id is not None
            flow_run = await client.read_flow_run(flow_run_id)
            task_runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            logs = await client.read_logs()
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                )
            )
            return "\n".join(
                [
                    flow_run.model_dump_json(),
                    *(run.model_dump_json() for run in task_runs),
                    *(log.message for log in logs),
                    *(artifact.model_dump_json() for artifact in artifacts),
                ]
            )

    stored = asyncio.run(everything_prefect_stored())
    assert "snapshot_shard" in stored
    assert "HTTP 401: Unauthorized: Bearer ***" in stored  # the run summary artifact
    assert all(secret not in stored for secret in [*tokens, key])


def test_the_new_platforms_secrets_never_reach_lake_logs_or_prefect(
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    httpserver: Any,
) -> None:
    meta, threads = "SECRET-meta-5c1e9a7b3d", "SECRET-threads-8d2f4b6a0c"
    client_secret, app_token = "SECRET-twitch-secret-3e7a1c9b", "SECRET-twitch-app-6b0d2f8e"
    secrets = [meta, threads, client_secret, app_token]
    monkeypatch.setenv("META_ACCESS_TOKEN", meta)
    monkeypatch.setenv("THREADS_ACCESS_TOKEN", threads)
    monkeypatch.setenv("TWITCH_CLIENT_SECRET", client_secret)
    for platform, handle in [
        ("instagram", "acme"),
        ("facebook", "acmepages"),
        ("threads", "acme"),
        ("twitch", "acmelive"),
    ]:
        add_account(workspace.watchlist, "Acme", platform, handle)
    from werkzeug import Request, Response

    def told(request: Request) -> str:
        """Everything the request carried: its headers, URL and form."""
        form = request.get_data(as_text=True)
        return f"{dict(request.headers)} {request.url} {form}"

    # Hostile upstreams echoing every token, secret and form they were sent in their errors.
    def graph_error(request: Request) -> Response:
        body = {"error": {"message": told(request), "type": "OAuthException", "code": 12}}
        return Response(json.dumps(body), status=400, content_type="application/json")

    def issue_token(request: Request) -> Response:
        body = {"access_token": app_token, "expires_in": 5011271, "token_type": "bearer"}
        return Response(json.dumps(body), status=200, content_type="application/json")

    def helix_refused(request: Request) -> Response:
        body = {"error": "Unauthorized", "status": 401, "message": told(request)}
        return Response(json.dumps(body), status=401, content_type="application/json")

    httpserver.expect_request("/v25.0/", method="POST").respond_with_handler(graph_error)
    httpserver.expect_request("/v1.0/profile_lookup").respond_with_handler(graph_error)
    httpserver.expect_request("/oauth2/token", method="POST").respond_with_handler(issue_token)
    httpserver.expect_request("/helix/users").respond_with_handler(helix_refused)
    monkeypatch.setenv("FOLLOWERLEDGER_GRAPH_API_URL", httpserver.url_for("/v25.0"))
    monkeypatch.setenv("FOLLOWERLEDGER_THREADS_API_URL", httpserver.url_for("/v1.0"))
    monkeypatch.setenv("FOLLOWERLEDGER_TWITCH_API_URL", httpserver.url_for("/helix"))
    monkeypatch.setenv("FOLLOWERLEDGER_TWITCH_AUTH_URL", httpserver.url_for("/oauth2"))
    monkeypatch.setenv("FOLLOWERLEDGER_HTTP_ATTEMPTS", "1")
    state = snapshot_flow(return_state=True)
    refresh(
        WarehouseLayout.at(workspace.warehouse, workspace.lake.root),
        load_watchlist(workspace.watchlist),
    )
    write_report(
        workspace.catalog, WarehouseLayout.at(workspace.warehouse).report, now=datetime.now(UTC)
    )
    rows = {r["platform"]: r for r in lake_rows(workspace)}
    # Every new platform was asked, and answered with an error that quoted our secrets.
    for platform in ("instagram", "facebook", "threads", "twitch"):
        assert rows[platform]["status"] == "error", rows[platform]
        assert "'Authorization': 'Bearer ***'" in rows[platform]["detail"]
    assert sum(1 for request, _ in httpserver.log if request.path == "/oauth2/token") >= 1
    for path in Path(workspace.warehouse).rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in content, path
    ours = "\n".join(
        record.getMessage() for record in caplog.records if not record.name.startswith("werkzeug")
    )
    assert all(secret not in ours for secret in secrets)

    async def everything_prefect_stored() -> str:
        async with get_client() as client:
            flow_run_id = state.state_details.flow_run_id
            assert flow_run_id is not None
            logs = await client.read_logs()
            artifacts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                )
            )
            flow_run = await client.read_flow_run(flow_run_id)
            return "\n".join(
                [
                    flow_run.model_dump_json(),
                    *(log.message for log in logs),
                    *(artifact.model_dump_json() for artifact in artifacts),
                ]
            )

    stored = asyncio.run(everything_prefect_stored())
    assert "instagram" in stored
    assert all(secret not in stored for secret in secrets)
