"""X source: official bodies -> exact rows; batching, limits, retries, failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from followerledger.emulator import EmulatorServer, Fault
from followerledger.observation import Observation
from followerledger.settings import load_settings
from followerledger.sources import build_source
from followerledger.sources.base import RowFactory, Target
from followerledger.sources.x import XSource, parse_users
from tests.conftest import FakeClock, fixture_json, fixture_text

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TOKEN = "test-bearer-token-0123456789"


def rows() -> RowFactory:
    return RowFactory("run-1", "x", AT, "api")


def x_source(url: str, clock: FakeClock, **settings: object) -> XSource:
    configured = load_settings(x_api_url=url, x_bearer_token=TOKEN, **settings)
    source = build_source("x", configured, clock=clock, sleep=clock.sleep)
    assert isinstance(source, XSource)
    return source


def test_docs_example_with_tweet_count() -> None:
    body = fixture_json("x/user_lookup_docs_example.json")
    [row] = parse_users(body, [Target("XDevelopers")], rows(), by_id=False)
    assert row == Observation(
        run_id="run-1",
        observed_at=AT,
        platform="x",
        handle="XDevelopers",
        status="ok",
        source="api",
        account_id="2244994945",
        display_name="X Developers",
        followers=583423,
        following=2048,
        posts=14052,
        requested_handle="XDevelopers",
    )


def test_spec_2_167_post_count() -> None:
    body = fixture_json("x/users_by_post_count.json")
    [row] = parse_users(body, [Target("xdevelopers")], rows(), by_id=False)
    assert (row.status, row.handle, row.followers, row.posts) == (
        "ok",
        "XDevelopers",
        583423,
        14052,
    )
    assert row.requested_handle == "xdevelopers"


def test_postman_some_users_not_found() -> None:
    body = fixture_json("x/users_by_some_not_found.json")
    batch = [
        Target(h)
        for h in ("twitterrrrrrr", "twitterdevvvvvv", "twitterapiiiii", "twitternyc", "twittersf")
    ]
    result = parse_users(body, batch, rows(), by_id=False)
    assert [(r.requested_handle, r.status, r.account_id, r.detail) for r in result] == [
        (
            "twitterrrrrrr",
            "not_found",
            None,
            "Could not find user with usernames: [twitterrrrrrr].",
        ),
        (
            "twitterdevvvvvv",
            "not_found",
            None,
            "Could not find user with usernames: [twitterdevvvvvv].",
        ),
        (
            "twitterapiiiii",
            "not_found",
            None,
            "Could not find user with usernames: [twitterapiiiii].",
        ),
        # Found, but the captured request asked for no public_metrics: no count, and it says so.
        ("twitternyc", "error", "495309159", "answer lacks public_metrics.followers_count"),
        ("twittersf", "error", "172020392", "answer lacks public_metrics.followers_count"),
    ]
    assert [r.handle for r in result][3:] == ["TwitterNYC", "TwitterSF"]
    assert all(r.followers is None for r in result)


def test_ids_lookup_with_one_not_found_and_one_suspended() -> None:
    body = fixture_json("x/users_ids_one_not_found.json")
    body["data"][0]["public_metrics"] = {
        "followers_count": 5,
        "following_count": 1,
        "tweet_count": 3,
        "listed_count": 0,
    }
    batch = [Target("jack", "12"), Target("TwitterDev", "2244994945"), Target("gone", "2244994946")]
    result = parse_users(body, batch, rows(), by_id=True)
    assert [(r.status, r.followers, r.handle) for r in result] == [
        ("ok", 5, "jack"),
        ("error", None, "TwitterDev"),
        ("not_found", None, "gone"),
    ]
    suspended = fixture_json("x/users_ids_suspended.json")
    [row] = parse_users(suspended, [Target("someone", "481186914")], rows(), by_id=True)
    assert (row.status, row.detail, row.account_id) == (
        "suspended",
        "User has been suspended: [481186914].",
        "481186914",
    )


def test_150_accounts_take_exactly_two_requests(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    source = x_source(emulator.url, fake_clock)
    targets = [Target(f"brand{i:03d}") for i in range(150)]
    batches = source.plan(targets)
    assert [len(b) for b in batches] == [100, 50]
    result = [row for batch in batches for row in source.fetch(batch, "run-1")]
    assert emulator.state.requests["x:/2/users/by"] == 2
    assert source.client.requests_made == 2
    assert len(result) == 150
    assert {r.status for r in result} == {"ok"}
    assert {r.source for r in result} == {"emulator"}
    assert [r.requested_handle for r in result] == [t.handle for t in targets]


def test_not_found_and_suspended_rows_from_the_emulator(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    source = x_source(emulator.url, fake_clock)
    batch = [Target("DellOutlet"), Target("DellYourBlog"), Target("IdeaStormAction")]
    result = source.fetch(batch, "run-1")
    assert [(r.handle, r.status) for r in result] == [
        ("DellOutlet", "ok"),
        ("DellYourBlog", "not_found"),
        ("IdeaStormAction", "suspended"),
    ]
    assert result[0].followers is not None
    assert result[0].account_id is not None
    assert result[1].followers is None
    assert result[2].followers is None


def test_429_waits_for_the_reset_header_then_succeeds(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    emulator.state.clock = fake_clock
    emulator.state.faults.add(Fault("x", "rate_limit", seconds=120))
    source = x_source(emulator.url, fake_clock)
    [row] = source.fetch([Target("DellOutlet")], "run-1")
    assert row.status == "ok"
    assert emulator.state.requests["x:/2/users/by"] == 2
    assert fake_clock.sleeps == [pytest.approx(120, abs=1)]


def test_postman_429_plain_text_body_uses_reset_header(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    reset = int(fake_clock.now.timestamp()) + 60
    httpserver.expect_ordered_request("/2/users/by").respond_with_data(
        fixture_text("x/users_by_429.txt"),
        status=429,
        content_type="text/plain;charset=utf-8",
        headers={
            "x-rate-limit-limit": "15",
            "x-rate-limit-remaining": "0",
            "x-rate-limit-reset": str(reset),
        },
    )
    httpserver.expect_ordered_request("/2/users/by").respond_with_json(
        fixture_json("x/users_by_post_count.json")
    )
    source = x_source(httpserver.url_for(""), fake_clock)
    [row] = source.fetch([Target("XDevelopers")], "run-1")
    assert (row.status, row.followers) == ("ok", 583423)
    assert fake_clock.sleeps == [60.0]


def test_rate_limit_beyond_the_maximum_wait_gives_error_rows(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    emulator.state.clock = fake_clock
    emulator.state.faults.add(Fault("x", "rate_limit", seconds=3600))
    source = x_source(emulator.url, fake_clock, max_rate_limit_wait=900)
    result = source.fetch([Target("DellOutlet"), Target("HP")], "run-1")
    until = datetime.fromtimestamp(int(fake_clock.now.timestamp()) + 3600, UTC)
    assert [(r.status, r.detail) for r in result] == [
        ("error", f"x is rate-limited until {until:%Y-%m-%dT%H:%M:%SZ}")
    ] * 2
    assert fake_clock.sleeps == []


def test_spent_budget_waits_before_the_next_request(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    emulator.state.clock = fake_clock
    emulator.state.windows["x"].limit = 1
    source = x_source(emulator.url, fake_clock)
    first = source.fetch([Target("DellOutlet")], "run-1")
    second = source.fetch([Target("HP")], "run-1")
    assert [r.status for r in first + second] == ["ok", "ok"]
    # The first answer said remaining=0: the client waited for the reset instead of a 429.
    assert emulator.state.requests["x:/2/users/by"] == 2
    assert fake_clock.sleeps == [pytest.approx(900, abs=1)]


def test_5xx_is_retried_with_backoff(emulator: EmulatorServer, fake_clock: FakeClock) -> None:
    emulator.state.faults.add(Fault("x", "status", code=503, times=2))
    source = x_source(emulator.url, fake_clock)
    [row] = source.fetch([Target("DellOutlet")], "run-1")
    assert row.status == "ok"
    assert emulator.state.requests["x:/2/users/by"] == 3
    assert len(fake_clock.sleeps) == 2
    assert all(0 < s <= 30 for s in fake_clock.sleeps)


def test_persistent_5xx_gives_error_rows_not_exceptions(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    emulator.state.faults.add(Fault("x", "status", code=502, times=None))
    source = x_source(emulator.url, fake_clock, http_attempts=3)
    result = source.fetch([Target("DellOutlet"), Target("HP")], "run-1")
    assert [r.status for r in result] == ["error", "error"]
    assert result[0].detail == "x answered HTTP 502 (gave up after 3 attempts)"
    assert emulator.state.requests["x:/2/users/by"] == 3


def test_connection_refused_is_retried_then_error_rows(fake_clock: FakeClock) -> None:
    source = x_source("http://127.0.0.1:9", fake_clock, http_attempts=2)
    [row] = source.fetch([Target("DellOutlet")], "run-1")
    assert row.status == "error"
    assert row.detail is not None
    assert row.detail.startswith("cannot reach x")
    assert len(fake_clock.sleeps) == 1


def test_malformed_and_truncated_answers_are_retried(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    source = x_source(emulator.url, fake_clock)
    emulator.state.faults.add(Fault("x", "malformed"))
    emulator.state.faults.add(Fault("x", "truncated"))
    [row] = source.fetch([Target("DellOutlet")], "run-1")
    assert (row.status, row.handle) == ("ok", "DellOutlet")
    assert emulator.state.requests["x:/2/users/by"] == 3
    assert len(fake_clock.sleeps) == 2


def test_a_body_that_stays_broken_gives_error_rows_saying_so(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    emulator.state.faults.add(Fault("x", "truncated", times=None))
    source = x_source(emulator.url, fake_clock, http_attempts=3)
    result = source.fetch([Target("DellOutlet"), Target("HP")], "run-1")
    assert [r.status for r in result] == ["error", "error"]
    assert result[0].detail == (
        "x answered HTTP 200 with a body that is not valid JSON (JSONDecodeError) "
        "(gave up after 3 attempts)"
    )
    assert emulator.state.requests["x:/2/users/by"] == 3


def test_a_200_answer_of_the_wrong_shape_is_retried(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    answers = iter([{"data": "cut"}, fixture_json("x/users_by_post_count.json")])
    httpserver.expect_request("/2/users/by").respond_with_handler(
        lambda request: Response(json.dumps(next(answers)), content_type="application/json")
    )
    source = x_source(httpserver.url_for(""), fake_clock)
    [row] = source.fetch([Target("xdevelopers")], "run-1")
    assert (row.status, row.followers) == ("ok", 583423)
    assert len(fake_clock.sleeps) == 1


def test_400_invalid_request_gives_error_rows(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_request("/2/users/by").respond_with_data(
        fixture_text("x/users_by_too_many_400.json"), status=400, content_type="application/json"
    )
    source = x_source(httpserver.url_for(""), fake_clock)
    [row] = source.fetch([Target("twitter")], "run-1")
    assert row.status == "error"
    assert row.detail == (
        "HTTP 400: Invalid Request: One or more parameters to your request "
        "was invalid.: size [110] is not between 1 and 100"
    )


def test_request_shape_is_the_contract(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response(fixture_text("x/users_by_post_count.json"), content_type="application/json")

    httpserver.expect_request("/2/users/by").respond_with_handler(handler)
    httpserver.expect_request("/2/users").respond_with_handler(handler)
    source = x_source(httpserver.url_for(""), fake_clock)
    source.fetch([Target("XDevelopers"), Target("DellOutlet")], "run-1")
    source.fetch([Target("XDevelopers", "2244994945")], "run-1")
    by_name, by_id = seen
    assert by_name.args.to_dict() == {
        "usernames": "XDevelopers,DellOutlet",
        "user.fields": "public_metrics",
    }
    assert by_id.path == "/2/users"
    assert by_id.args.to_dict() == {"ids": "2244994945", "user.fields": "public_metrics"}
    assert by_name.headers["Authorization"] == f"Bearer {TOKEN}"


def test_error_details_never_carry_the_token(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    httpserver.expect_request("/2/users/by").respond_with_json(
        {"title": "Unauthorized", "detail": f"bad token {TOKEN}", "status": 401}, status=401
    )
    source = x_source(httpserver.url_for(""), fake_clock)
    [row] = source.fetch([Target("DellOutlet")], "run-1")
    assert row.status == "error"
    assert TOKEN not in str(row)
    assert "***" in str(row.detail)
