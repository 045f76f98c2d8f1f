"""Bluesky source: getProfiles at 25 actors, omitted profiles classified, failures as rows."""

from __future__ import annotations

from datetime import UTC, datetime

from pytest_httpserver import HTTPServer
from werkzeug import Response

from followerledger.emulator import EmulatorServer, Fault
from followerledger.settings import load_settings
from followerledger.sources import build_source
from followerledger.sources.base import RowFactory, Target
from followerledger.sources.bluesky import BlueskySource, parse_profiles
from tests.conftest import FakeClock, fixture_json, fixture_text

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def bluesky_source(url: str, clock: FakeClock) -> BlueskySource:
    source = build_source(
        "bluesky", load_settings(bluesky_api_url=url), clock=clock, sleep=clock.sleep
    )
    assert isinstance(source, BlueskySource)
    return source


def test_official_profile_and_omitted_actor() -> None:
    body = fixture_json("bluesky/get_profiles.json")
    rows = RowFactory("run-1", "bluesky", AT, "api")
    found, missing = parse_profiles(body, [Target("Dan.test"), Target("nobody.test")], rows)
    assert [
        (r.handle, r.account_id, r.followers, r.following, r.posts, r.status) for r in found
    ] == [("dan.test", "did:plc:user0", 1, 1, 2, "ok")]
    assert found[0].display_name is None
    assert missing == [Target("nobody.test")]


def test_profiles_match_by_did_once_resolved() -> None:
    body = fixture_json("bluesky/get_profiles.json")
    rows = RowFactory("run-1", "bluesky", AT, "api")
    found, missing = parse_profiles(body, [Target("old-name.test", "did:plc:user0")], rows)
    assert missing == []
    assert (found[0].handle, found[0].requested_handle) == ("dan.test", "old-name.test")


def test_omitted_profiles_are_classified_by_get_profile(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_data(
        fixture_text("bluesky/get_profiles.json"), content_type="application/json"
    )
    for actor, name in (
        ("gone.test", "not_found"),
        ("banned.test", "takedown"),
        ("paused.test", "deactivated"),
    ):
        httpserver.expect_request(
            "/xrpc/app.bsky.actor.getProfile", query_string={"actor": actor}
        ).respond_with_data(
            fixture_text(f"bluesky/get_profile_{name}.json"),
            status=400,
            content_type="application/json",
        )
    source = bluesky_source(httpserver.url_for(""), fake_clock)
    batch = [Target("dan.test"), Target("gone.test"), Target("banned.test"), Target("paused.test")]
    result = source.fetch(batch, "run-1")
    assert [(r.requested_handle, r.status, r.detail) for r in result] == [
        ("dan.test", "ok", None),
        ("gone.test", "not_found", "Profile not found"),
        ("banned.test", "suspended", "Account has been suspended"),
        ("paused.test", "deactivated", "Account is deactivated"),
    ]


def test_sixty_accounts_take_three_requests(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    source = bluesky_source(emulator.url, fake_clock)
    targets = [Target(f"brand{i}.example.com") for i in range(60)]
    result = [row for batch in source.plan(targets) for row in source.fetch(batch, "run-1")]
    assert [len(b) for b in source.plan(targets)] == [25, 25, 10]
    assert emulator.state.requests["bluesky:/xrpc/app.bsky.actor.getProfiles"] == 3
    assert "bluesky:/xrpc/app.bsky.actor.getProfile" not in emulator.state.requests
    assert {r.status for r in result} == {"ok"}
    assert all(str(r.account_id).startswith("did:plc:") for r in result)


def test_emulator_states(emulator: EmulatorServer, fake_clock: FakeClock) -> None:
    source = bluesky_source(emulator.url, fake_clock)
    result = source.fetch(
        [Target("dell.com"), Target("gone.example.com"), Target("suspended.example.com")], "run-1"
    )
    assert [r.status for r in result] == ["ok", "not_found", "suspended"]


def test_429_with_ratelimit_reset_then_success(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    emulator.state.clock = fake_clock
    emulator.state.faults.add(Fault("bluesky", "rate_limit", seconds=30))
    source = bluesky_source(emulator.url, fake_clock)
    [row] = source.fetch([Target("dell.com")], "run-1")
    assert row.status == "ok"
    assert len(fake_clock.sleeps) == 1
    assert 29 <= fake_clock.sleeps[0] <= 31


def test_429_with_only_retry_after(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    httpserver.expect_ordered_request("/xrpc/app.bsky.actor.getProfiles").respond_with_data(
        fixture_text("bluesky/rate_limited_429.json"),
        status=429,
        content_type="application/json",
        headers={"Retry-After": "7"},
    )
    httpserver.expect_ordered_request("/xrpc/app.bsky.actor.getProfiles").respond_with_data(
        fixture_text("bluesky/get_profiles.json"), content_type="application/json"
    )
    source = bluesky_source(httpserver.url_for(""), fake_clock)
    [row] = source.fetch([Target("dan.test")], "run-1")
    assert row.status == "ok"
    assert fake_clock.sleeps == [7.0]


def test_answer_without_profiles_is_an_error_row(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_json({"x": 1})
    source = bluesky_source(httpserver.url_for(""), fake_clock)
    [row] = source.fetch([Target("dan.test")], "run-1")
    assert (row.status, row.detail) == (
        "error",
        "bluesky answered HTTP 200 with a body not of the documented shape "
        "(answer lacks the required 'profiles' list) (gave up after 8 attempts)",
    )
    assert len(httpserver.log) == 8


def test_broken_bodies_are_retried(emulator: EmulatorServer, fake_clock: FakeClock) -> None:
    emulator.state.faults.add(Fault("bluesky", "truncated"))
    emulator.state.faults.add(Fault("bluesky", "malformed"))
    source = bluesky_source(emulator.url, fake_clock)
    [row] = source.fetch([Target("dell.com")], "run-1")
    assert (row.status, row.handle) == ("ok", "dell.com")
    assert emulator.state.requests["bluesky:/xrpc/app.bsky.actor.getProfiles"] == 3


def test_a_getprofiles_answer_without_profiles_is_retried(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    answers = iter([b"{}", fixture_text("bluesky/get_profiles.json").encode()])
    httpserver.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_handler(
        lambda request: Response(next(answers), content_type="application/json")
    )
    source = bluesky_source(httpserver.url_for(""), fake_clock)
    [row] = source.fetch([Target("dan.test")], "run-1")
    assert (row.status, row.followers) == ("ok", 1)
    assert len(fake_clock.sleeps) == 1


def test_a_failing_getprofile_costs_only_its_own_account(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_request("/xrpc/app.bsky.actor.getProfiles").respond_with_data(
        fixture_text("bluesky/get_profiles.json"), content_type="application/json"
    )
    httpserver.expect_request("/xrpc/app.bsky.actor.getProfile").respond_with_data("", status=503)
    source = build_source(
        "bluesky",
        load_settings(bluesky_api_url=httpserver.url_for(""), http_attempts=2),
        clock=fake_clock,
        sleep=fake_clock.sleep,
    )
    found, omitted = source.fetch([Target("dan.test"), Target("nobody.test")], "run-1")
    assert (found.status, found.followers) == ("ok", 1)
    assert (omitted.status, omitted.detail) == (
        "error",
        "bluesky answered HTTP 503 (gave up after 2 attempts)",
    )
