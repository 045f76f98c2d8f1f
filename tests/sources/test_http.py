"""The shared HTTP client: budgets, Retry-After, redaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from pytest_httpserver import HTTPServer

from followerledger.sources.http import (
    ApiClient,
    RateLimited,
    epoch_seconds_reset,
    iso8601_reset,
    make_session,
    no_budget_headers,
)
from tests.conftest import FakeClock


def test_epoch_and_iso_budget_readers() -> None:
    x = epoch_seconds_reset("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset")
    budget = x(
        {
            "x-rate-limit-limit": "300",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": "1593538196",
        }
    )
    assert budget is not None
    assert (budget.limit, budget.remaining) == (300, 0)
    assert budget.reset_at == datetime.fromtimestamp(1593538196, UTC)
    mastodon = iso8601_reset("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
    budget = mastodon(
        {"X-RateLimit-Remaining": "3", "X-RateLimit-Reset": "2026-11-26T12:05:00.123456Z"}
    )
    assert budget is not None
    assert budget.reset_at == datetime(2026, 11, 26, 12, 5, 0, 123456, tzinfo=UTC)
    assert x({}) is None
    assert no_budget_headers({"x": "1"}) is None


def test_spent_budget_beyond_max_wait_raises_before_sending(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    reset = fake_clock.now + timedelta(hours=2)
    httpserver.expect_request("/r").respond_with_json(
        {},
        headers={"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(reset.timestamp()))},
    )
    client = ApiClient(
        "x",
        httpserver.url_for(""),
        make_session(),
        max_wait=900,
        read_budget=epoch_seconds_reset("l", "x-rate-limit-remaining", "x-rate-limit-reset"),
        clock=fake_clock,
        sleep=fake_clock.sleep,
    )
    client.get("/r")
    with pytest.raises(RateLimited) as caught:
        client.get("/r")
    assert caught.value.until == reset.replace(microsecond=0)
    assert client.requests_made == 1
    assert len(httpserver.log) == 1


def test_retry_after_http_date(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    when = (fake_clock.now + timedelta(seconds=42)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    httpserver.expect_ordered_request("/r").respond_with_data(
        "", status=429, headers={"Retry-After": when}
    )
    httpserver.expect_ordered_request("/r").respond_with_json({"ok": True})
    client = ApiClient(
        "bluesky",
        httpserver.url_for(""),
        make_session(),
        read_budget=no_budget_headers,
        clock=fake_clock,
        sleep=fake_clock.sleep,
    )
    assert client.get("/r").json() == {"ok": True}
    assert fake_clock.sleeps == [42.0]


def test_redaction_of_every_secret() -> None:
    client = ApiClient(
        "youtube",
        "http://127.0.0.1:1",
        requests.Session(),
        read_budget=no_budget_headers,
        secrets=["k3y", ""],
    )
    assert client.redact("GET /channels?key=k3y&id=1 (k3y)") == "GET /channels?key=***&id=1 (***)"


def test_redaction_masks_a_secret_cut_short_at_the_end() -> None:
    # A text someone else already cut (an upstream echoing our key into a bounded field) may
    # end in a piece of a secret: from 8 characters on, that piece is masked too.
    secret = "SECRET-key-41b7e2a09c"
    client = ApiClient(
        "youtube",
        "http://127.0.0.1:1",
        requests.Session(),
        read_budget=no_budget_headers,
        secrets=[secret],
    )
    for length in range(8, len(secret)):
        assert client.redact(f"bad key={secret[:length]}") == "bad key=***", length
    assert client.redact("bad key=SECRET-") == "bad key=SECRET-"
