"""Twitch source: official bodies -> exact rows; request shape, tokens, limits, failures."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from followerledger.emulator import (
    EmulatorServer,
    EmulatorState,
    Fault,
    emulator_environment,
    twitch_api,
)
from followerledger.emulator import world as w
from followerledger.errors import ConfigError
from followerledger.observation import MAX_COUNT, Observation
from followerledger.settings import Settings, load_settings
from followerledger.sources import build_source, missing_config, require_config
from followerledger.sources.base import MalformedAnswer, RowFactory, Target, Usage
from followerledger.sources.http import ApiClient, make_session
from followerledger.sources.platform import Connect, RatePolicy
from followerledger.sources.throttle import Throttle
from followerledger.sources.twitch import (
    PLATFORM,
    TokenRejected,
    Tokens,
    TwitchSource,
    followers_row,
    parse_users,
    planned,
    read_budget,
)
from tests.conftest import FakeClock, fixture_json

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
CLIENT_ID = "hof5gwx0su6owfn0nyan9c87zr6t"
SECRET = "twitch-client-secret-0123456789abcdef"
GIVEN = "given-user-token-kpvy3cjboyptmiacwr0c19"


@pytest.fixture
def twitch_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorState()) as server:
        yield server


def rows() -> RowFactory:
    return RowFactory("run-1", "twitch", AT, "api")


def source(
    url: str,
    clock: FakeClock,
    *,
    given: str | None = None,
    secret: str | None = SECRET,
    auth_url: str | None = None,
    attempts: int = 8,
    concurrency: int = 1,
) -> TwitchSource:
    """A source as `build` wires one, on a fake clock: with `given`, that token (and the
    secret too only when passed explicitly with it)."""
    session = make_session(4, {"Client-Id": CLIENT_ID})
    secret = secret if not given or secret != SECRET else None
    client = ApiClient(
        "twitch",
        f"{url}/helix",
        session,
        read_budget=read_budget,
        attempts=attempts,
        secrets=[value for value in (given, secret) if value],
        concurrency=4,
        clock=clock,
        sleep=clock.sleep,
    )
    tokens = Tokens(
        client_id=CLIENT_ID,
        given=given,
        client_secret=secret,
        auth_url=auth_url or f"{url}/oauth2",
        session=session,
        timeout=5.0,
        sleep=clock.sleep,
        on_issue=client.add_secret,
    )
    return TwitchSource(client, tokens, concurrency=concurrency)


APP_TOKEN = "jostpf5q0uzmxmkba9iyug38kjtgh"


def token_endpoint(httpserver: HTTPServer, token: str = APP_TOKEN) -> None:
    body = {**fixture_json("twitch/app_token.json"), "access_token": token}
    httpserver.expect_request("/oauth2/token", method="POST").respond_with_json(body)


def test_recorded_users_body_then_unscoped_total(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    token_endpoint(httpserver)
    httpserver.expect_request("/helix/users").respond_with_json(
        fixture_json("twitch/get_users_summit1g.json")
    )
    httpserver.expect_request("/helix/channels/followers").respond_with_json(
        fixture_json("twitch/channel_followers_unscoped.json")
    )
    [row] = source(httpserver.url_for(""), fake_clock).fetch([Target("Summit1G")], "run-1")
    assert row == Observation(
        run_id="run-1",
        observed_at=fake_clock.now,
        platform="twitch",
        handle="summit1g",
        status="ok",
        source="api",
        account_id="26490481",
        display_name="summit1g",
        followers=8,
        following=None,
        posts=None,
        requested_handle="Summit1G",
    )


def test_request_shape_is_the_contract(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    token_endpoint(httpserver, "apptoken-abcdefghijklmnop")
    httpserver.expect_request("/helix/users").respond_with_json(
        fixture_json("twitch/get_users_docs_example.json")
    )
    httpserver.expect_request("/helix/channels/followers").respond_with_json(
        fixture_json("twitch/channel_followers_unscoped.json")
    )
    source(httpserver.url_for(""), fake_clock).fetch(
        [Target("twitchdev"), Target("@TwitchGaming")], "run-1"
    )
    [(token, _), (users, _), (followers, _)] = httpserver.log
    assert token.form.to_dict() == {
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        "grant_type": "client_credentials",
    }
    assert users.args.getlist("login") == ["twitchdev", "twitchgaming"]
    assert followers.args.to_dict() == {"broadcaster_id": "141981764", "first": "1"}
    for request in (users, followers):
        assert request.headers["Authorization"] == "Bearer apptoken-abcdefghijklmnop"
        assert request.headers["Client-Id"] == CLIENT_ID


def test_total_is_read_not_the_length_of_data(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_request("/helix/channels/followers").respond_with_json(
        fixture_json("twitch/channel_followers_docs_example.json")
    )
    tw = source(httpserver.url_for(""), fake_clock, given=GIVEN)
    [row] = tw.fetch([Target("twitchdev", "141981764")], "run-1")
    assert (row.status, row.followers, row.account_id) == ("ok", 8, "141981764")
    # A known id skipped the users call.
    assert [request.path for request, _ in httpserver.log] == ["/helix/channels/followers"]


def test_login_absent_from_data_is_not_found(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    httpserver.expect_request("/helix/users").respond_with_json(
        fixture_json("twitch/get_users_docs_example.json")
    )
    httpserver.expect_request("/helix/channels/followers").respond_with_json(
        fixture_json("twitch/channel_followers_unscoped.json")
    )
    tw = source(httpserver.url_for(""), fake_clock, given=GIVEN)
    result = tw.fetch([Target("gonechannel"), Target("TwitchDev")], "run-1")
    assert [(r.requested_handle, r.status, r.followers, r.detail) for r in result] == [
        ("gonechannel", "not_found", None, "no Twitch user with this login"),
        ("TwitchDev", "ok", 8, None),
    ]
    assert [request.path for request, _ in httpserver.log].count("/helix/channels/followers") == 1


def test_an_invalid_broadcaster_id_is_not_found(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_request("/helix/channels/followers").respond_with_json(
        {"error": "Bad Request", "status": 400, "message": "Invalid broadcaster_id"}, status=400
    )
    tw = source(httpserver.url_for(""), fake_clock, given=GIVEN)
    [row] = tw.fetch([Target("oldname", "999")], "run-1")
    assert (row.status, row.account_id) == ("not_found", "999")
    assert row.detail == (
        "Twitch does not take this broadcaster id (HTTP 400: Bad Request: Invalid broadcaster_id)"
    )


def test_429_waits_until_ratelimit_reset(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    reset = int(fake_clock.now.timestamp()) + 42
    httpserver.expect_ordered_request("/helix/channels/followers").respond_with_json(
        fixture_json("twitch/too_many_requests_429.json"),
        status=429,
        headers={
            "Ratelimit-Limit": "800",
            "Ratelimit-Remaining": "0",
            "Ratelimit-Reset": str(reset),
        },
    )
    httpserver.expect_ordered_request("/helix/channels/followers").respond_with_json(
        fixture_json("twitch/channel_followers_unscoped.json")
    )
    tw = source(httpserver.url_for(""), fake_clock, given=GIVEN)
    [row] = tw.fetch([Target("twitchdev", "141981764")], "run-1")
    assert (row.status, row.followers) == ("ok", 8)
    assert fake_clock.sleeps == [42.0]


def test_remaining_zero_pauses_until_reset_before_the_next_call(
    twitch_emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    twitch_emulator.state.clock = fake_clock
    twitch_emulator.state.windows["twitch"].limit = 2
    tw = source(twitch_emulator.url, fake_clock)
    result = tw.fetch([Target("DellGaming"), Target("AlienwareTV")], "run-1")
    assert [r.status for r in result] == ["ok", "ok"]
    # users + followers spent the two points; the second followers call waited a minute.
    assert fake_clock.sleeps == [pytest.approx(60, abs=1)]
    assert twitch_emulator.state.requests["twitch:/helix/channels/followers"] == 2


def test_503_is_retried_once_only(twitch_emulator: EmulatorServer, fake_clock: FakeClock) -> None:
    twitch_emulator.state.faults.add(Fault("twitch", "status", code=503, times=1))
    [ok] = source(twitch_emulator.url, fake_clock).fetch([Target("DellGaming")], "run-1")
    assert ok.status == "ok"
    twitch_emulator.state.faults.add(Fault("twitch", "status", code=503, times=None))
    before = twitch_emulator.state.requests["twitch:/helix/channels/followers"]
    [failed] = source(twitch_emulator.url, fake_clock).fetch(
        [Target("DellGaming", ok.account_id)], "run-1"
    )
    assert failed.status == "error"
    assert "gave up after 2 attempts" in str(failed.detail)
    assert twitch_emulator.state.requests["twitch:/helix/channels/followers"] - before == 2


def test_401_gets_a_new_app_token_once(
    twitch_emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    credentials = twitch_api.auth(twitch_emulator.state)
    credentials.client_id, credentials.client_secret = CLIENT_ID, SECRET
    tw = source(twitch_emulator.url, fake_clock)
    [first] = tw.fetch([Target("DellGaming")], "run-1")
    credentials.revoke_all()
    [second] = tw.fetch([Target("DellGaming", first.account_id)], "run-1")
    assert (first.status, second.status) == ("ok", "ok")
    assert second.followers is not None
    assert twitch_emulator.state.requests["twitch:/oauth2/token"] == 2
    assert len(credentials.issued) == 1


def test_a_second_401_fails_naming_the_settings(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    token_endpoint(httpserver, "apptoken-abcdefghijklmnop")
    httpserver.expect_request("/helix/users").respond_with_json(
        fixture_json("twitch/unauthorized_401.json"), status=401
    )
    result = source(httpserver.url_for(""), fake_clock).fetch(
        [Target("twitchdev"), Target("dell")], "run-1"
    )
    detail = (
        "Twitch rejected the token (HTTP 401: Unauthorized: Invalid OAuth token): "
        "check TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET"
    )
    assert [(r.status, r.detail) for r in result] == [("error", detail)] * 2
    paths = [request.path for request, _ in httpserver.log]
    assert paths == ["/oauth2/token", "/helix/users", "/oauth2/token", "/helix/users"]
    # The renewal did not send the refused token to the auth server.
    assert "Authorization" not in httpserver.log[2][0].headers


def test_a_given_token_is_not_renewed(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    httpserver.expect_request("/helix/channels/followers").respond_with_json(
        fixture_json("twitch/unauthorized_401.json"), status=401
    )
    tw = source(httpserver.url_for(""), fake_clock, given=GIVEN)
    [row] = tw.fetch([Target("twitchdev", "141981764")], "run-1")
    assert row.status == "error"
    assert str(row.detail).endswith("check TWITCH_ACCESS_TOKEN")
    assert len(httpserver.log) == 1


def test_a_refused_client_secret_is_one_line_naming_the_settings(
    twitch_emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    credentials = twitch_api.auth(twitch_emulator.state)
    credentials.client_id, credentials.client_secret = CLIENT_ID, "the-real-secret-xyz"
    [row] = source(twitch_emulator.url, fake_clock).fetch([Target("DellGaming")], "run-1")
    assert (row.status, row.detail) == (
        "error",
        "Twitch refused the app-token request (HTTP 403: invalid client secret): "
        "check TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET",
    )
    assert twitch_emulator.state.requests["twitch:/helix/users"] == 0


def test_token_and_secret_never_in_errors_or_logs(
    httpserver: HTTPServer, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    app_token = "apptoken-leaky-0123456789abcdef"
    token_endpoint(httpserver, app_token)
    echo = {"error": "Bad Request", "status": 400, "message": f"{app_token} / {SECRET}"}
    httpserver.expect_request("/helix/users").respond_with_json(echo, status=400)
    reset = int(fake_clock.now.timestamp()) + 30
    httpserver.expect_request("/helix/channels/followers").respond_with_json(
        {"error": "Too Many Requests", "status": 429, "message": f"slow down {app_token}"},
        status=429,
        headers={"Ratelimit-Remaining": "0", "Ratelimit-Reset": str(reset)},
    )
    caplog.set_level(logging.DEBUG)
    tw = source(httpserver.url_for(""), fake_clock, attempts=2)
    result = tw.fetch([Target("twitchdev")], "run-1")
    result += tw.fetch([Target("twitchdev", "141981764")], "run-1")
    text = " ".join(str(row) for row in result) + caplog.text
    assert [row.status for row in result] == ["error", "error"]
    assert "***" in str(result[0].detail)
    assert "rate-limited (429)" in caplog.text
    assert app_token not in text
    assert SECRET not in text


def test_emulator_serves_the_official_shapes(
    twitch_emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    session = make_session(2, {"Client-Id": CLIENT_ID, "Authorization": "Bearer anything"})
    base = f"{twitch_emulator.url}/helix"
    users = session.get(f"{base}/users", params=[("login", "DellGaming"), ("login", "gonex")])
    assert users.status_code == 200
    [user] = users.json()["data"]
    assert user["login"] == "dellgaming"
    assert all(
        name in users.headers
        for name in ("Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset")
    )
    assert users.headers["Ratelimit-Limit"] == "800"
    followers = session.get(f"{base}/channels/followers", params={"broadcaster_id": user["id"]})
    body = followers.json()
    assert body["data"] == []
    assert body["pagination"] == {}
    assert isinstance(body["total"], int)
    assert body["total"] > 0
    unknown = session.get(f"{base}/channels/followers", params={"broadcaster_id": "1"})
    assert unknown.status_code == 400
    assert unknown.json()["message"] == "The broadcaster_id query parameter is not valid."
    too_many = session.get(f"{base}/users", params=[("login", f"u{n}") for n in range(101)])
    assert too_many.status_code == 400
    anonymous = make_session(2).get(f"{base}/users", params={"login": "dellgaming"})
    assert anonymous.json() == {
        "error": "Unauthorized",
        "status": 401,
        "message": "Invalid OAuth token",
    }


def test_build_names_the_missing_setting() -> None:
    def no_client(*args: object) -> ApiClient:
        raise AssertionError("no client is made without a client id")

    connect = Connect(lambda headers: make_session(1, headers), no_client)
    with pytest.raises(ConfigError, match=r"^TWITCH_CLIENT_ID is not set: "):
        PLATFORM.build(load_settings(), connect)


def test_planned_requests_count_each_followers_call() -> None:
    tw_batches = [[Target("a"), Target("b")], [Target("c", "1"), Target("d", "2")]]
    [(policy, count)] = planned(PLATFORM, tw_batches, {}).items()
    assert (policy.name, policy.limit, policy.per_seconds, count) == ("twitch", 800, 60, 5)


def test_150_logins_take_two_users_calls(
    twitch_emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    tw = source(twitch_emulator.url, fake_clock)
    targets = [Target(f"brand{n}") for n in range(150)]
    plan = tw.plan(targets)
    assert [len(batch) for batch in plan] == [100, 50]
    result = [row for batch in plan for row in tw.fetch(batch, "run-1")]
    assert len(result) == 150
    assert all(row.status == "ok" for row in result)
    assert twitch_emulator.state.requests["twitch:/helix/users"] == 2
    # 152 Helix calls, and the app-token request to the auth host; no quota units.
    assert tw.usage() == Usage(153)
    assert twitch_emulator.state.requests["twitch:/oauth2/token"] == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
user_objects = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.text(max_size=8), st.integers(), st.none()),
        "login": st.one_of(st.text(max_size=8), st.none()),
        "display_name": st.one_of(st.text(max_size=8), st.none()),
    },
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=json_values | st.fixed_dictionaries({"data": st.lists(user_objects, max_size=4)}))
def test_users_parser_accepts_or_refuses_cleanly(body: Any) -> None:
    try:
        found = parse_users(body)
    except MalformedAnswer:
        assert not (isinstance(body, dict) and isinstance(body.get("data"), list))
        return
    for login, user in found.items():
        assert login == login.lower()
        assert user["login"].lower() == login


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    total=json_values | st.integers(min_value=-5, max_value=MAX_COUNT + 5),
    status_code=st.sampled_from([200, 400, 404, 500]),
    extra=st.dictionaries(st.sampled_from(["data", "pagination", "error"]), json_values),
)
def test_followers_row_is_a_count_or_a_status(total: Any, status_code: int, extra: Any) -> None:
    body = {**extra, "total": total}
    try:
        row = followers_row(body, status_code, Target("t", "1"), rows(), user=None, account_id="1")
    except MalformedAnswer:
        assert status_code == 200
        assert not isinstance(body.get("data", []), list)
        return
    if row.status == "ok":
        assert row.followers == total
        assert isinstance(total, int)
        assert 0 <= total <= MAX_COUNT
    else:
        assert row.followers is None
        expected = {200: "error", 400: "not_found"}.get(status_code, "error")
        assert row.status == expected


# --- wired as a run wires it: settings, build_source, the emulator ---------------------------


def emulated_settings(monkeypatch: pytest.MonkeyPatch, url: str, **env: str) -> Settings:
    """Settings read from the environment `emulator_environment` gives (plus `env`)."""
    for name, value in {**emulator_environment(url), **env}.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def no_pacing(policy: RatePolicy) -> Throttle:
    return lambda: None


def test_end_to_end_through_build_source_and_the_emulator(
    twitch_emulator: EmulatorServer, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    twitch_emulator.state.clock = fake_clock
    settings = emulated_settings(monkeypatch, twitch_emulator.url)
    assert missing_config(settings, ["twitch"]) == []
    first = build_source(
        "twitch", settings, clock=fake_clock, sleep=fake_clock.sleep, throttle_for=no_pacing
    )
    assert first.credential == "TWITCH_CLIENT_SECRET"
    targets = [Target("alienware"), Target("@AsusROG"), Target("gonechannel")]
    rows = [row for batch in first.plan(targets) for row in first.fetch(batch, "run-1")]
    assert [(r.requested_handle, r.handle, r.status, r.source) for r in rows] == [
        ("alienware", "alienware", "ok", "emulator"),
        ("@AsusROG", "asusrog", "ok", "emulator"),
        ("gonechannel", "gonechannel", "not_found", "emulator"),
    ]
    for row in rows[:2]:
        assert row.account_id == twitch_api.account_id(row.handle)
        assert row.followers == w.followers_at("twitch", row.handle, fake_clock.now)
    # One token, one users call, two followers calls.
    assert first.usage() == Usage(4)
    # A later run reads by id: no users call.
    later = build_source(
        "twitch", settings, clock=fake_clock, sleep=fake_clock.sleep, throttle_for=no_pacing
    )
    known = [Target(row.requested_handle or "", row.account_id) for row in rows[:2]]
    again = [row for batch in later.plan(known) for row in later.fetch(batch, "run-2")]
    assert [r.followers for r in again] == [r.followers for r in rows[:2]]
    assert later.usage() == Usage(3)
    requests = twitch_emulator.state.requests
    assert requests["twitch:/helix/users"] == 1
    assert requests["twitch:/helix/channels/followers"] == 4
    assert requests["twitch:/oauth2/token"] == 2


def test_missing_config_is_one_line_per_missing_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET", "TWITCH_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert missing_config(load_settings(), ["twitch"]) == [
        "TWITCH_CLIENT_ID is not set: register an app at https://dev.twitch.tv/console/apps "
        "and put its client id in the environment or .env (or skip Twitch with --platform)",
        "TWITCH_CLIENT_SECRET and TWITCH_ACCESS_TOKEN are not set: put the client secret of "
        "that app (on its page at dev.twitch.tv/console: New Secret) in TWITCH_CLIENT_SECRET, "
        "or an access token issued to its client id in TWITCH_ACCESS_TOKEN, in the "
        "environment or .env, or in the Prefect Secret block "
        "followerledger-twitch-client-secret or followerledger-twitch-access-token (or skip "
        "Twitch with --platform)",
    ]
    blank = load_settings(twitch_client_id="  ", twitch_client_secret="   ")
    [no_id, no_secret] = missing_config(blank, ["twitch"])
    assert no_id.startswith("TWITCH_CLIENT_ID is empty: register an app at ")
    assert no_secret.startswith("TWITCH_CLIENT_SECRET and TWITCH_ACCESS_TOKEN are not set: ")
    either = [
        load_settings(twitch_client_id=CLIENT_ID, twitch_client_secret=SECRET),
        load_settings(twitch_client_id=CLIENT_ID, twitch_access_token=GIVEN),
    ]
    assert [missing_config(settings, ["twitch"]) for settings in either] == [[], []]
    # The other platforms' lines are not Twitch's business, nor the reverse.
    assert missing_config(blank, ["bluesky"]) == []
    with pytest.raises(ConfigError, match=r"^TWITCH_CLIENT_ID is empty: .*; TWITCH_CLIENT_SEC"):
        require_config(blank, ["twitch"])


def test_a_given_token_is_sent_first_and_labels_the_credential(
    twitch_emulator: EmulatorServer, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = emulated_settings(monkeypatch, twitch_emulator.url, TWITCH_ACCESS_TOKEN=GIVEN)
    tw = build_source("twitch", settings, throttle_for=no_pacing)
    assert tw.credential == "TWITCH_ACCESS_TOKEN"
    [row] = tw.fetch([Target("alienware")], "run-1")
    assert row.status == "ok"
    assert twitch_emulator.state.requests["twitch:/oauth2/token"] == 0


def test_a_refused_given_token_gives_way_to_an_app_token_once(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    token_endpoint(httpserver, "apptoken-abcdefghijklmnop")
    refused = {"Authorization": f"Bearer {GIVEN}"}
    httpserver.expect_request("/helix/channels/followers", headers=refused).respond_with_json(
        fixture_json("twitch/unauthorized_401.json"), status=401
    )
    httpserver.expect_request("/helix/channels/followers").respond_with_json(
        fixture_json("twitch/channel_followers_unscoped.json")
    )
    tw = source(httpserver.url_for(""), fake_clock, given=GIVEN, secret="another-secret-123456")
    rows = tw.fetch([Target("a", "1"), Target("b", "2")], "run-1")
    assert [(r.status, r.followers) for r in rows] == [("ok", 8), ("ok", 8)]
    paths = [request.path for request, _ in httpserver.log]
    assert paths == [
        "/helix/channels/followers",
        "/oauth2/token",
        "/helix/channels/followers",
        "/helix/channels/followers",
    ]
    assert tw.tokens.settings == (
        "TWITCH_ACCESS_TOKEN, or TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET"
    )


def test_a_refused_secret_is_not_asked_again_by_later_batches(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_request("/oauth2/token", method="POST").respond_with_json(
        {"status": 403, "message": "invalid client secret"}, status=403
    )
    tw = source(httpserver.url_for(""), fake_clock)
    first = tw.fetch([Target("alienware")], "run-1")
    second = tw.fetch([Target("asusrog")], "run-1")
    assert [r.status for r in first + second] == ["error", "error"]
    assert first[0].detail == second[0].detail
    assert [request.path for request, _ in httpserver.log] == ["/oauth2/token"]
    assert tw.usage() == Usage(1)


def test_a_token_request_that_fails_on_the_way_is_tried_twice(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_ordered_request("/oauth2/token", method="POST").respond_with_data(
        "busy", status=503
    )
    httpserver.expect_ordered_request("/oauth2/token", method="POST").respond_with_json(
        {**fixture_json("twitch/app_token.json"), "access_token": APP_TOKEN}
    )
    httpserver.expect_request("/helix/channels/followers").respond_with_json(
        fixture_json("twitch/channel_followers_unscoped.json")
    )
    tw = source(httpserver.url_for(""), fake_clock)
    [row] = tw.fetch([Target("twitchdev", "141981764")], "run-1")
    assert (row.status, row.followers) == ("ok", 8)
    assert fake_clock.sleeps == [1.0]
    assert tw.usage() == Usage(3)


def test_an_unreachable_auth_server_names_its_setting(fake_clock: FakeClock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    tw = source(closed, fake_clock)
    [row] = tw.fetch([Target("alienware")], "run-1")
    assert row.status == "error"
    assert str(row.detail).startswith(
        f"cannot reach Twitch's auth server at {closed}/oauth2 (ConnectionError): "
        "check FOLLOWERLEDGER_TWITCH_AUTH_URL"
    )


def test_a_batchs_followers_calls_run_side_by_side(fake_clock: FakeClock) -> None:
    # Each followers answer waits until two are in flight: calls one after another time out.
    both = threading.Barrier(2, timeout=10)

    def followers(request: Request) -> Response:
        both.wait()
        return Response(json.dumps({"total": 8, "data": [], "pagination": {}}), 200)

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.expect_request("/helix/channels/followers").respond_with_handler(followers)
    server.start()
    try:
        tw = source(server.url_for(""), fake_clock, given=GIVEN, concurrency=2)
        rows = tw.fetch([Target("a", "1"), Target("b", "2")], "run-1")
    finally:
        server.stop()
    assert [(r.requested_handle, r.status, r.followers) for r in rows] == [
        ("a", "ok", 8),
        ("b", "ok", 8),
    ]


def test_echoed_secrets_never_reach_rows_logs_or_errors(
    httpserver: HTTPServer, fake_clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A hostile Twitch: the auth server refuses quoting the secret; Helix echoes the bearer
    token it was sent, in errors of every kind."""
    app_token = "apptoken-echoed-0123456789abcdef"

    def echo(request: Request) -> Response:
        said = f"{request.headers.get('Authorization')} {request.headers.get('Client-Id')}"
        return Response(json.dumps({"error": said, "status": 400, "message": said}), 400)

    httpserver.expect_request("/oauth2/token", method="POST").respond_with_json(
        {"access_token": app_token, "expires_in": 5011271, "token_type": "bearer"}
    )
    httpserver.expect_request("/helix/users").respond_with_handler(echo)
    httpserver.expect_request("/helix/channels/followers").respond_with_handler(echo)
    caplog.set_level(logging.DEBUG)
    tw = source(httpserver.url_for(""), fake_clock)
    rows = tw.fetch([Target("alienware")], "run-1") + tw.fetch([Target("a", "1")], "run-1")
    assert [row.status for row in rows] == ["error", "not_found"]
    assert all("Bearer ***" in str(row.detail) for row in rows)
    # The auth server quoting the secret back: a refusal, masked too.
    refusing = HTTPServer(host="127.0.0.1", port=0)
    refusing.expect_request("/oauth2/token", method="POST").respond_with_json(
        {"status": 403, "message": f"invalid client secret {SECRET}"}, status=403
    )
    refusing.start()
    try:
        with pytest.raises(TokenRejected) as raised:
            source(refusing.url_for(""), fake_clock).tokens.current()
    finally:
        refusing.stop()
    text = " ".join(repr(row) for row in rows) + caplog.text + str(raised.value)
    assert "invalid client secret ***" in str(raised.value)
    assert app_token not in text
    assert SECRET not in text


def test_the_emulators_429_carries_ratelimit_reset_and_is_waited_out(
    twitch_emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    twitch_emulator.state.clock = fake_clock
    twitch_emulator.state.faults.add(Fault("twitch", "rate_limit", times=1, seconds=30))
    tw = source(twitch_emulator.url, fake_clock, given=GIVEN)
    [row] = tw.fetch([Target("alienware")], "run-1")
    assert row.status == "ok"
    # The users call met the 429: Ratelimit-Remaining 0, Ratelimit-Reset 30 s on.
    assert fake_clock.sleeps == [30.0]
    assert twitch_emulator.state.requests["twitch:/helix/users"] == 2
