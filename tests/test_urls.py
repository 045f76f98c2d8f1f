"""Credentials in configured URLs are never echoed (issue 11, "Nothing lost, nothing hidden")."""

from __future__ import annotations

import socket

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from followerledger.prefect_server import PrefectServer, ServerError, ensure_server
from followerledger.settings import load_settings
from followerledger.sources import build_source
from followerledger.sources.base import Target
from followerledger.urls import shown_url
from tests.conftest import FakeClock


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://user:sekrit@api.example.com:8443/v2?key=sekrit#sekrit",
            "https://api.example.com:8443/v2",
        ),
        ("http://user:sekrit@127.0.0.1:4200/api", "http://127.0.0.1:4200/api"),
        ("http://:sekrit@[::1]:4200/api/", "http://[::1]:4200/api/"),
        ("https://api.x.com", "https://api.x.com"),
        ("user:sekrit@api.example.com/v2", "api.example.com/v2"),
        ("http://user:sekrit@host:notaport/api", "http://host/api"),
    ],
)
def test_a_url_is_shown_without_userinfo_query_or_fragment(url: str, shown: str) -> None:
    assert shown_url(url) == shown
    assert "sekrit" not in shown_url(url)


def test_an_unreachable_platform_never_shows_the_urls_credentials(fake_clock: FakeClock) -> None:
    port = closed_port()
    settings = load_settings(
        x_api_url=f"http://user:sekrit@127.0.0.1:{port}/2?k=sekrit",
        x_bearer_token="token-0123",
        http_attempts=1,
    )
    source = build_source("x", settings, clock=fake_clock, sleep=fake_clock.sleep)
    [row] = source.fetch([Target("DellOutlet")], "run-1")
    assert (row.status, row.detail) == (
        "error",
        f"cannot reach x at http://127.0.0.1:{port}/2: connection refused "
        "(gave up after 1 attempts)",
    )


def test_a_configured_prefect_api_that_does_not_answer_is_named_without_credentials(
    tmp_path: pytest.TempPathFactory,
) -> None:
    api = f"http://user:sekrit@127.0.0.1:{closed_port()}/api"
    with temporary_settings(updates={PREFECT_API_URL: api}), pytest.raises(ServerError) as raised:
        ensure_server(tmp_path)  # type: ignore[arg-type]
    assert "sekrit" not in str(raised.value)
    assert str(raised.value).startswith(f"PREFECT_API_URL={shown_url(api)} does not answer")


def test_the_ui_address_is_shown_without_credentials() -> None:
    server = PrefectServer("http://user:sekrit@127.0.0.1:4200/api")
    assert server.shown_ui_url == "http://127.0.0.1:4200"
    assert server.shown_api_url == "http://127.0.0.1:4200/api"
