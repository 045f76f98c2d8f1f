"""Secrets from Prefect Secret blocks: read against the real test server, only for what the
environment and `.env` leave unset, and never when no Prefect API is configured."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from prefect.client.orchestration import get_client
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_SERVER_EPHEMERAL_ENABLED,
    temporary_settings,
)
from pytest_httpserver import HTTPServer

from followerledger.cli import main
from followerledger.flows.snapshot import snapshot_flow
from followerledger.secret_blocks import SECRET_BLOCKS, SecretBlockError, with_secret_blocks
from followerledger.settings import load_settings
from followerledger.sources import credential_labels, missing_config
from followerledger.sources.twitch import CLIENT_SECRET
from followerledger.urls import shown_url
from tests import tiny
from tests.conftest import Workspace

pytestmark = [pytest.mark.prefect, pytest.mark.usefixtures("prefect_server")]

SaveBlock = Callable[[str, str], None]


def closed_port_url() -> str:
    """A Prefect API URL nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}/api"


def test_every_secret_has_its_documented_block_name() -> None:
    assert {(block.variable, block.block) for block in SECRET_BLOCKS} == {
        ("X_BEARER_TOKEN", "followerledger-x-bearer-token"),
        ("YOUTUBE_API_KEY", "followerledger-youtube-api-key"),
        ("META_ACCESS_TOKEN", "followerledger-meta-access-token"),
        ("THREADS_ACCESS_TOKEN", "followerledger-threads-access-token"),
        ("TWITCH_ACCESS_TOKEN", "followerledger-twitch-access-token"),
        ("TWITCH_CLIENT_SECRET", "followerledger-twitch-client-secret"),
        ("FOLLOWERLEDGER_ALERT_URLS", "followerledger-alert-urls"),
    }


@pytest.mark.parametrize("written", [None, "", "  "], ids=["unset", "empty", "blanks"])
def test_a_block_stands_in_for_a_variable_the_environment_lacks(
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    secret_blocks: SaveBlock,
    written: str | None,
) -> None:
    if written is None:
        monkeypatch.delenv("X_BEARER_TOKEN")
    else:
        monkeypatch.setenv("X_BEARER_TOKEN", written)
    secret_blocks("followerledger-x-bearer-token", "token-from-block")
    settings = with_secret_blocks(load_settings())
    assert settings.x_bearer_token is not None
    assert settings.x_bearer_token.get_secret_value() == "token-from-block"
    assert settings.redact("Bearer token-from-block") == "Bearer ***"
    # The key comes from the environment; no alert block exists: simply not set.
    assert settings.youtube_api_key is not None
    assert settings.youtube_api_key.get_secret_value() == "emulator-api-key"
    assert settings.alert_urls is None


def test_twitch_blocks_are_one_each_and_read_only_when_neither_variable_is_set(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, secret_blocks: SaveBlock
) -> None:
    monkeypatch.delenv("TWITCH_CLIENT_SECRET")
    secret_blocks("followerledger-twitch-client-secret", "secret-from-block")
    secret_blocks("followerledger-twitch-client-secret-2", "never-read")
    settings = with_secret_blocks(load_settings())
    [value] = settings.credentials(CLIENT_SECRET)
    assert (value.label, value.secret.get_secret_value()) == (
        "followerledger-twitch-client-secret",
        "secret-from-block",
    )
    assert missing_config(settings, ["twitch"]) == []
    assert credential_labels(settings, "twitch") == ["followerledger-twitch-client-secret"]
    assert settings.redact("secret-from-block") == "***"
    # A token in the environment does for Twitch: no block of the other is read.
    monkeypatch.setenv("TWITCH_ACCESS_TOKEN", "token-from-env")
    settings = with_secret_blocks(load_settings())
    assert settings.credentials(CLIENT_SECRET) == []
    assert credential_labels(settings, "twitch") == ["TWITCH_ACCESS_TOKEN"]


def test_the_environment_and_dotenv_win_over_blocks(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, secret_blocks: SaveBlock
) -> None:
    monkeypatch.delenv("YOUTUBE_API_KEY")
    (workspace.root / ".env").write_text("YOUTUBE_API_KEY=key-from-dotenv\n", encoding="utf-8")
    secret_blocks("followerledger-x-bearer-token", "token-from-block")
    secret_blocks("followerledger-youtube-api-key", "key-from-block")
    settings = with_secret_blocks(load_settings())
    assert settings.x_bearer_token is not None
    assert settings.x_bearer_token.get_secret_value() == "emulator-bearer-token"
    assert settings.youtube_api_key is not None
    assert settings.youtube_api_key.get_secret_value() == "key-from-dotenv"


def test_without_a_prefect_api_no_block_is_looked_for(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, secret_blocks: SaveBlock
) -> None:
    monkeypatch.delenv("X_BEARER_TOKEN")
    secret_blocks("followerledger-x-bearer-token", "token-from-block")
    settings = load_settings()
    # With ephemeral servers off, any attempt to reach Prefect without a URL raises.
    no_api = {PREFECT_API_URL: None, PREFECT_SERVER_EPHEMERAL_ENABLED: False}
    with temporary_settings(updates=no_api):
        assert with_secret_blocks(settings) is settings
    assert settings.x_bearer_token is None


def test_an_unreachable_prefect_api_is_one_actionable_line(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("X_BEARER_TOKEN")
    api = closed_port_url()
    with pytest.raises(SecretBlockError) as raised:
        with_secret_blocks(load_settings(), api)
    assert str(raised.value).startswith(
        f"X_BEARER_TOKEN is not set and its Prefect Secret block "
        f"'followerledger-x-bearer-token' cannot be read from PREFECT_API_URL={api}: "
    )
    assert "\n" not in str(raised.value)
    with temporary_settings(updates={PREFECT_API_URL: api}):
        result = CliRunner().invoke(main, ["snapshot", "--platform", "bluesky"])
    assert result.exit_code == 2
    assert result.output.startswith("followerledger: error: X_BEARER_TOKEN is not set and ")
    assert "start that server" in result.output
    assert result.output.count("\n") == 1
    assert tiny.lake_files(workspace.lake) == ()


def test_a_prefect_api_that_fails_is_asked_once_not_retried(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    monkeypatch.delenv("X_BEARER_TOKEN")
    httpserver.expect_request(
        "/api/block_types/slug/secret/block_documents/name/followerledger-x-bearer-token"
    ).respond_with_data("busy", status=503)
    with pytest.raises(SecretBlockError, match="cannot be read from PREFECT_API_URL=") as raised:
        with_secret_blocks(load_settings(), httpserver.url_for("/api"))
    assert "busy" not in str(raised.value)  # the answer's body is not repeated
    assert len(httpserver.log) == 1


def test_deploy_warns_only_about_secrets_neither_environment_nor_block_holds(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, secret_blocks: SaveBlock
) -> None:
    # `deploy` exports the server's URL for its subprocesses; monkeypatch restores it.
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("X_BEARER_TOKEN")
    no_project = workspace.root / "elsewhere"
    no_project.mkdir()
    before = CliRunner().invoke(main, ["deploy", "--project", str(no_project)])
    assert "warning: X_BEARER_TOKEN is not set" in before.output
    assert "followerledger-x-bearer-token" in before.output
    secret_blocks("followerledger-x-bearer-token", "token-from-block")
    after = CliRunner().invoke(main, ["deploy", "--project", str(no_project)])
    assert "warning" not in after.output
    # Both then stop at the missing prefect.yaml, as they should.
    assert after.exit_code == before.exit_code == 2
    assert "prefect.yaml: not found" in after.output


def test_a_failed_run_alerts_through_the_block_and_never_stores_its_url(
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    secret_blocks: SaveBlock,
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request("/hook-7c1d9e", method="POST").respond_with_data("ok")
    url = f"json://127.0.0.1:{httpserver.port}/hook-7c1d9e"
    secret_blocks("followerledger-alert-urls", url)
    monkeypatch.delenv("X_BEARER_TOKEN")
    state = snapshot_flow(return_state=True)
    assert state.is_failed()
    [alert] = [json.loads(request.get_data()) for request, _ in httpserver.log]
    assert "X_BEARER_TOKEN is not set" in alert["message"]

    async def logs() -> str:
        async with get_client() as client:
            return "\n".join(log.message for log in await client.read_logs())

    assert "hook-7c1d9e" not in asyncio.run(logs())
    assert not any("hook-7c1d9e" in path.read_text(errors="replace") for path in files(workspace))


def files(workspace: Workspace) -> list[Path]:
    return [path for path in workspace.warehouse.rglob("*") if path.is_file()]


def test_an_unreachable_prefect_api_never_shows_its_credentials(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, httpserver: HTTPServer
) -> None:
    monkeypatch.delenv("X_BEARER_TOKEN")
    closed = closed_port_url().replace("http://", "http://user:sekrit@") + "?token=sekrit"
    httpserver.expect_request(
        "/api/block_types/slug/secret/block_documents/name/followerledger-x-bearer-token"
    ).respond_with_data("busy", status=503)
    failing = httpserver.url_for("/api").replace("http://", "http://user:sekrit@")
    for api in (closed, failing):
        with pytest.raises(SecretBlockError) as raised:
            with_secret_blocks(load_settings(), api)
        assert "sekrit" not in str(raised.value)
        assert f"cannot be read from PREFECT_API_URL={shown_url(api)}: " in str(raised.value)
        assert "user" not in shown_url(api)
