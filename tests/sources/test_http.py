"""The shared HTTP client: budgets, Retry-After, redaction."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Response

from followerledger.sources.http import (
    ApiClient,
    RateLimited,
    RequestFailed,
    Throttled,
    iso8601,
    make_session,
    no_budget_headers,
    rate_limit_headers,
)
from tests.conftest import FakeClock


def test_epoch_and_iso_budget_readers() -> None:
    x = rate_limit_headers("x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset")
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
    mastodon = rate_limit_headers(
        "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", iso8601
    )
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
        read_budget=rate_limit_headers("l", "x-rate-limit-remaining", "x-rate-limit-reset"),
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


def bluesky_client(httpserver: HTTPServer, fake_clock: FakeClock, attempts: int) -> ApiClient:
    return ApiClient(
        "bluesky",
        httpserver.url_for(""),
        make_session(),
        read_budget=no_budget_headers,
        attempts=attempts,
        clock=fake_clock,
        sleep=fake_clock.sleep,
    )


def needs_items(body: object) -> str | None:
    return None if isinstance(body, dict) and "items" in body else "no 'items'"


def test_a_2xx_body_not_json_or_not_of_the_shape_is_retried_with_backoff(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_ordered_request("/r").respond_with_data('{"items": [', status=200)
    httpserver.expect_ordered_request("/r").respond_with_json({"other": 1})
    httpserver.expect_ordered_request("/r").respond_with_json({"items": []})
    client = bluesky_client(httpserver, fake_clock, attempts=3)
    assert client.get("/r", shape=needs_items).json() == {"items": []}
    assert len(fake_clock.sleeps) == 2
    assert all(0 < s <= 30 for s in fake_clock.sleeps)


def test_a_body_still_broken_after_the_last_attempt_says_why(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_request("/r").respond_with_json({"other": 1})
    client = bluesky_client(httpserver, fake_clock, attempts=2)
    with pytest.raises(RequestFailed) as caught:
        client.get("/r", shape=needs_items)
    assert str(caught.value) == (
        "bluesky answered HTTP 200 with a body not of the documented shape (no 'items') "
        "(gave up after 2 attempts)"
    )
    assert len(httpserver.log) == 2


def test_error_answers_are_not_decoded_for_the_shape(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_request("/r").respond_with_data("<html>gone</html>", status=404)
    client = bluesky_client(httpserver, fake_clock, attempts=3)
    assert client.get("/r", shape=needs_items).status_code == 404
    assert len(httpserver.log) == 1


def test_429_waits_do_not_use_up_the_attempts(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    for _ in range(2):
        httpserver.expect_ordered_request("/r").respond_with_data(
            "", status=429, headers={"Retry-After": "3"}
        )
        httpserver.expect_ordered_request("/r").respond_with_data("", status=503)
    httpserver.expect_ordered_request("/r").respond_with_json({"items": []})
    client = bluesky_client(httpserver, fake_clock, attempts=3)
    assert client.get("/r").json() == {"items": []}
    assert len(httpserver.log) == 5
    assert fake_clock.sleeps[0] == fake_clock.sleeps[2] == 3.0


def test_429_waits_are_bounded_too(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    httpserver.expect_request("/r").respond_with_data("", status=429, headers={"Retry-After": "3"})
    client = bluesky_client(httpserver, fake_clock, attempts=3)
    with pytest.raises(RequestFailed) as caught:
        client.get("/r")
    assert str(caught.value) == (
        "bluesky answered 429 Too Many Requests (gave up after 3 attempts)"
    )
    assert len(httpserver.log) == 3


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


def test_a_throttle_answer_holds_the_other_threads_during_its_wait(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    answers = iter([400, 200])
    httpserver.expect_request("/a").respond_with_handler(
        lambda request: Response("{}", next(answers), content_type="application/json")
    )
    httpserver.expect_request("/b").respond_with_json({})
    sleeps: list[float] = []
    sleeping = threading.Semaphore(0)
    release = threading.Event()

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        sleeping.release()
        assert release.wait(10)

    def throttled(response: requests.Response) -> Throttled | None:
        return Throttled("throttled (code 4)", 600.0) if response.status_code == 400 else None

    client = ApiClient(
        "meta",
        httpserver.url_for(""),
        make_session(),
        read_budget=no_budget_headers,
        max_wait=900,
        clock=fake_clock,
        sleep=sleep,
        throttled=throttled,
    )
    statuses: list[int] = []
    first = threading.Thread(target=lambda: statuses.append(client.get("/a").status_code))
    first.start()
    assert sleeping.acquire(timeout=10)
    second = threading.Thread(target=lambda: statuses.append(client.get("/b").status_code))
    second.start()
    assert sleeping.acquire(timeout=10)
    assert [request.path for request, _ in httpserver.log] == ["/a"]
    assert sleeps == [600.0, 600.0]
    fake_clock.now += timedelta(seconds=600)
    release.set()
    first.join(10)
    second.join(10)
    assert sorted(statuses) == [200, 200]
    assert sorted(request.path for request, _ in httpserver.log) == ["/a", "/a", "/b"]
