"""Threads source: profile_lookup by username, 1,000 lookups a day, no id in the answer."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from followerledger.settings import load_settings
from followerledger.sources import build_source, planned_requests
from followerledger.sources.base import RowFactory, Target
from followerledger.sources.threads import INELIGIBLE, PLATFORM, ThreadsSource, parse_profile
from tests.conftest import FakeClock, fixture_json, fixture_text
from tests.sources.graph_batches import unpaced

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TOKEN = "THAAThreadsTestToken0123456789abcdef"


def rows() -> RowFactory:
    return RowFactory("run-1", "threads", AT, "api")


def threads(server: HTTPServer, clock: FakeClock, **overrides: object) -> ThreadsSource:
    settings_ = load_settings(
        threads_api_url=server.url_for(""), threads_access_token=TOKEN, **overrides
    )
    source = build_source(
        "threads", settings_, clock=clock, sleep=clock.sleep, throttle_for=unpaced
    )
    assert isinstance(source, ThreadsSource)
    return source


def error(code: int, message: str = "refused") -> str:
    return json.dumps({"error": {"message": message, "type": "OAuthException", "code": code}})


def test_the_documented_answer_is_a_row_keyed_by_username(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_request("/profile_lookup").respond_with_data(
        fixture_text("threads/profile_lookup.json"), content_type="application/json"
    )
    source = threads(httpserver, fake_clock)
    [row] = source.fetch([Target("meta")], "r1")
    assert (row.status, row.handle, row.followers, row.account_id, row.display_name) == (
        "ok",
        "meta",
        1234567,
        None,
        "Meta",
    )
    [(request, _)] = httpserver.log
    assert request.args.to_dict() == {
        "username": "meta",
        "fields": "username,name,follower_count,is_verified",
    }
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in request.url
    assert source.usage().quota_units == 1


def test_plural_followers_count_is_not_read_as_the_count() -> None:
    body = {**fixture_json("threads/profile_lookup.json")}
    body["followers_count"] = body.pop("follower_count")
    row = parse_profile(body, Target("meta"), rows())
    assert (row.status, row.followers) == ("hidden", None)


@pytest.mark.parametrize("code", [100, 110])
def test_unknown_or_ineligible_is_not_found(
    httpserver: HTTPServer, fake_clock: FakeClock, code: int
) -> None:
    httpserver.expect_request("/profile_lookup").respond_with_data(
        error(code), status=400, content_type="application/json"
    )
    [row] = threads(httpserver, fake_clock).fetch([Target("smallbrand")], "r1")
    assert (row.status, row.detail) == ("not_found", INELIGIBLE)


@pytest.mark.parametrize(
    ("code", "named"), [(190, "THREADS_ACCESS_TOKEN"), (10, "Advanced Access"), (200, "@meta")]
)
def test_token_and_permission_errors_stop_without_another_request(
    httpserver: HTTPServer, fake_clock: FakeClock, code: int, named: str
) -> None:
    httpserver.expect_request("/profile_lookup").respond_with_data(
        error(code), status=400, content_type="application/json"
    )
    source = threads(httpserver, fake_clock)
    first = source.fetch([Target("brand")], "r1")
    later = source.fetch([Target("other")], "r1")
    assert len(httpserver.log) == 1
    assert named in str(first[0].detail)
    assert later[0].detail == first[0].detail


@pytest.mark.parametrize("code", [4, 17, 613])
def test_throttle_codes_wait_then_succeed(
    httpserver: HTTPServer, fake_clock: FakeClock, code: int
) -> None:
    answers = iter([(error(code), 400), (fixture_text("threads/profile_lookup.json"), 200)])

    def handler(request: Request) -> Response:
        body, status = next(answers)
        return Response(body, status, content_type="application/json")

    httpserver.expect_request("/profile_lookup").respond_with_handler(handler)
    [row] = threads(httpserver, fake_clock, max_rate_limit_wait=7200).fetch([Target("meta")], "r1")
    assert row.status == "ok"
    assert fake_clock.sleeps == [3600.0]


def test_a_permanent_error_is_sent_once(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    httpserver.expect_request("/profile_lookup").respond_with_data(
        fixture_text("meta/permanent_36000.json"), status=400, content_type="application/json"
    )
    [row] = threads(httpserver, fake_clock).fetch([Target("meta")], "r1")
    assert row.status == "error"
    assert len(httpserver.log) == 1


def test_an_echoed_token_is_redacted(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    httpserver.expect_request("/profile_lookup").respond_with_data(
        error(12, f"cannot use {TOKEN}"), status=400, content_type="application/json"
    )
    [row] = threads(httpserver, fake_clock).fetch([Target("meta")], "r1")
    assert TOKEN not in str(row.detail)
    assert "***" in str(row.detail)


def test_the_daily_lookup_cap_is_the_rate_policy_and_planned_per_lookup() -> None:
    assert (PLATFORM.policy.limit, PLATFORM.policy.per_seconds) == (1000, 86400)
    settings_ = load_settings(threads_access_token=TOKEN)
    batches = [[Target(f"brand{i}")] for i in range(3)]
    assert planned_requests("threads", batches, settings_) == {PLATFORM.policy: 3}


@pytest.mark.parametrize(
    ("written", "handle"),
    [
        ("https://www.threads.net/@zuck", "zuck"),
        ("https://www.threads.com/@zuck", "zuck"),
        ("@zuck", "zuck"),
    ],
)
def test_written_forms(written: str, handle: str) -> None:
    assert PLATFORM.read_written(written) == handle


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(body=JSON | st.dictionaries(st.sampled_from(["username", "name", "follower_count"]), JSON))
def test_any_json_answer_is_one_row(body: Any) -> None:
    row = parse_profile(body, Target("meta"), rows())
    assert row.requested_handle == "meta"
    assert row.account_id is None
