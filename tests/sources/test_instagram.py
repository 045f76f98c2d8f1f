"""Instagram source: Business Discovery through our own IG id, 50 calls per Graph batch."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from followerledger.settings import load_settings
from followerledger.sources import build_source, missing_config, planned_requests
from followerledger.sources.base import RowFactory, Target
from followerledger.sources.instagram import (
    NOT_PROFESSIONAL,
    PLATFORM,
    InstagramSource,
    parse_discovery,
)
from followerledger.sources.meta_graph import Entry
from tests.conftest import FakeClock, fixture_json, fixture_text
from tests.sources.graph_batches import BatchServer, EntryAnswer, unpaced

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TOKEN = "EAAGm0PX4ZCpsBAtesttoken0123456789"
OWN = "17841405309211844"
RECORDED = fixture_json("instagram/business_discovery.json")


def rows() -> RowFactory:
    return RowFactory("run-1", "instagram", AT, "api")


def target_of(relative_url: str) -> str:
    """The username a Business Discovery relative URL asks for."""
    fields = parse_qs(urlsplit(relative_url).query)["fields"][0]
    return fields.split("username(", 1)[1].split(")", 1)[0]


def discovered(username: str, followers: int = 64976) -> dict[str, Any]:
    return {
        "business_discovery": {
            "id": str(17841400000000000 + len(username)),
            "username": username,
            "name": username.title(),
            "followers_count": followers,
            "follows_count": 12,
            "media_count": 436,
        },
        "id": OWN,
    }


def instagram(
    server: HTTPServer,
    clock: FakeClock,
    answer: Any,
    headers: dict[str, str] | None = None,
    **overrides: object,
) -> tuple[InstagramSource, BatchServer]:
    batches = BatchServer(answer, headers)
    server.expect_request("/", method="POST").respond_with_handler(batches)
    values: dict[str, object] = {
        "graph_api_url": server.url_for(""),
        "meta_access_token": TOKEN,
        "instagram_user_id": OWN,
        **overrides,
    }
    source = build_source(
        "instagram", load_settings(**values), clock=clock, sleep=clock.sleep, throttle_for=unpaced
    )
    assert isinstance(source, InstagramSource)
    return source, batches


def fine(url: str, attempt: int) -> EntryAnswer:
    return 200, discovered(target_of(url))


def test_the_recorded_answer_is_a_row() -> None:
    row = parse_discovery(RECORDED, Target("FacebookForDevelopers"), rows())
    assert (row.status, row.handle, row.account_id, row.display_name) == (
        "ok",
        "facebookfordevelopers",
        "17841407673135339",
        "Facebook for Developers",
    )
    assert (row.followers, row.following, row.posts) == (64976, None, 436)


def test_no_followers_count_is_hidden_and_no_business_discovery_is_not_found() -> None:
    body = json.loads(json.dumps(RECORDED))
    del body["business_discovery"]["followers_count"]
    hidden = parse_discovery(body, Target("facebookfordevelopers"), rows())
    assert (hidden.status, hidden.followers, hidden.posts) == ("hidden", None, 436)
    gone = parse_discovery({"id": OWN}, Target("someone"), rows())
    assert (gone.status, gone.detail) == ("not_found", NOT_PROFESSIONAL)


def test_request_shape_one_batch_post_token_in_the_header(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    source, batches = instagram(httpserver, fake_clock, fine)
    targets = [Target(f"brand{i}") for i in range(51)]
    plan = source.plan(targets)
    assert [len(batch) for batch in plan] == [50, 1]
    result = source.fetch(plan[0], "r1")
    assert [row.status for row in result] == ["ok"] * 50
    assert [row.handle for row in result[:2]] == ["brand0", "brand1"]
    [form] = batches.forms
    assert form["include_headers"] == "false"
    calls = json.loads(form["batch"])
    assert {call["method"] for call in calls} == {"GET"}
    first = calls[0]["relative_url"]
    assert urlsplit(first).path == OWN
    assert parse_qs(urlsplit(first).query)["fields"] == [
        "business_discovery.username(brand0)"
        "{id,username,name,followers_count,follows_count,media_count}"
    ]
    assert batches.auth == [f"Bearer {TOKEN}"]
    assert TOKEN not in batches.urls[0]
    assert TOKEN not in form["batch"]
    assert source.usage().requests == 1
    assert source.usage().quota_units == 50


@pytest.mark.parametrize(
    "name", ["instagram/not_found_110_zh.json", "instagram/not_found_110_no.json"]
)
def test_110_is_not_found_whatever_the_locale_and_failures_stay_in_their_entry(
    httpserver: HTTPServer, fake_clock: FakeClock, name: str
) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        return (400, fixture_json(name)) if target_of(url) == "nobody" else fine(url, attempt)

    source, batches = instagram(httpserver, fake_clock, answer)
    result = source.fetch([Target("brand"), Target("nobody"), Target("other")], "r1")
    assert [(row.status, row.detail) for row in result] == [
        ("ok", None),
        ("not_found", NOT_PROFESSIONAL),
        ("ok", None),
    ]
    assert len(batches.batches) == 1


@pytest.mark.parametrize("code", [4, 17, 32, 341, 613, 80000, 80002, 80014])
def test_each_throttle_code_waits_then_succeeds(
    httpserver: HTTPServer, fake_clock: FakeClock, code: int
) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        if attempt == 0:
            return 403, {"error": {"message": "Application request limit reached", "code": code}}
        return fine(url, attempt)

    source, batches = instagram(httpserver, fake_clock, answer, max_rate_limit_wait=7200)
    result = source.fetch([Target("brand")], "r1")
    assert [row.status for row in result] == ["ok"]
    assert fake_clock.sleeps == [3600.0]
    assert len(batches.batches) == 2


def test_a_throttle_code_without_estimate_beyond_the_longest_wait_sends_nothing_more(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        return 403, {"error": {"message": "Application request limit reached", "code": 4}}

    source, batches = instagram(httpserver, fake_clock, answer)
    [row] = source.fetch([Target("brand")], "r1")
    [later] = source.fetch([Target("other")], "r1")
    assert row.status == "error"
    assert "rate-limited until" in str(row.detail)
    assert later.status == "error"
    assert fake_clock.sleeps == []
    assert len(batches.batches) == 1


def test_a_throttled_entry_alone_is_sent_again_after_the_wait_and_the_others_kept(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        if target_of(url) == "slow" and attempt == 0:
            return 403, {"error": {"message": "User request limit reached", "code": 17}}
        return fine(url, attempt)

    source, batches = instagram(httpserver, fake_clock, answer, max_rate_limit_wait=7200)
    result = source.fetch([Target("brand"), Target("slow"), Target("other")], "r1")
    assert [row.status for row in result] == ["ok", "ok", "ok"]
    assert fake_clock.sleeps == [3600.0]
    assert [len(sent) for sent in batches.batches] == [3, 1]
    assert target_of(batches.batches[1][0]) == "slow"


def test_a_throttled_entry_waits_the_business_use_case_estimate_when_given(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    buc = {"1": [{"type": "instagram", "call_count": 100, "estimated_time_to_regain_access": 7}]}

    def answer(url: str, attempt: int) -> EntryAnswer:
        if target_of(url) == "slow" and attempt == 0:
            return 403, {"error": {"message": "User request limit reached", "code": 80002}}
        return fine(url, attempt)

    headers = {"X-Business-Use-Case-Usage": json.dumps(buc)}
    source, batches = instagram(httpserver, fake_clock, answer, headers)
    result = source.fetch([Target("brand"), Target("slow")], "r1")
    assert [row.status for row in result] == ["ok", "ok"]
    assert fake_clock.sleeps == [420.0]
    assert [len(sent) for sent in batches.batches] == [2, 1]


def test_a_throttled_entry_beyond_the_longest_wait_alone_is_an_error_row(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        if target_of(url) == "slow":
            return 403, {"error": {"message": "User request limit reached", "code": 17}}
        return fine(url, attempt)

    source, batches = instagram(httpserver, fake_clock, answer)
    result = source.fetch([Target("brand"), Target("slow")], "r1")
    assert [row.status for row in result] == ["ok", "error"]
    assert str(result[1].detail).startswith("not sent again: ")
    assert "rate-limited until" in str(result[1].detail)
    assert fake_clock.sleeps == []
    assert len(batches.batches) == 1


def test_a_rejected_token_on_the_second_send_stops_the_platform(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    calls = iter(range(100))
    token = {
        "error": {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190}
    }

    def handler(request: Request) -> Response:
        if next(calls) == 0:
            body = [{"code": 200, "body": json.dumps(discovered("brand"))}, None]
            return Response(json.dumps(body), 200, content_type="application/json")
        return Response(json.dumps(token), 400, content_type="application/json")

    httpserver.expect_request("/", method="POST").respond_with_handler(handler)
    source = build_source(
        "instagram",
        load_settings(
            graph_api_url=httpserver.url_for(""), meta_access_token=TOKEN, instagram_user_id=OWN
        ),
        clock=fake_clock,
        sleep=fake_clock.sleep,
        throttle_for=unpaced,
    )
    result = source.fetch([Target("brand"), Target("late")], "r1")
    later = source.fetch([Target("other")], "r1")
    assert [row.status for row in result] == ["ok", "error"]
    assert "rejected the access token" in str(result[1].detail)
    assert later[0].detail == result[1].detail
    assert len(httpserver.log) == 2


def test_a_null_entry_whose_second_send_gets_no_answer_says_so(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    calls = iter(range(100))

    def handler(request: Request) -> Response:
        if next(calls) == 0:
            body = [{"code": 200, "body": json.dumps(discovered("brand"))}, None]
            return Response(json.dumps(body), 200, content_type="application/json")
        return Response("{}", 503, content_type="application/json")

    httpserver.expect_request("/", method="POST").respond_with_handler(handler)
    source = build_source(
        "instagram",
        load_settings(
            graph_api_url=httpserver.url_for(""), meta_access_token=TOKEN, instagram_user_id=OWN
        ),
        clock=fake_clock,
        sleep=fake_clock.sleep,
        throttle_for=unpaced,
    )
    result = source.fetch([Target("brand"), Target("late")], "r1")
    assert [row.status for row in result] == ["ok", "error"]
    assert str(result[1].detail).startswith("sent again, no answer: ")


def test_usage_at_95_percent_pauses_the_rolling_hour_before_the_next_request(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    usage = {"X-App-Usage": json.dumps({"call_count": 96, "total_time": 20, "total_cputime": 20})}
    source, batches = instagram(httpserver, fake_clock, fine, usage, max_rate_limit_wait=7200)
    source.fetch([Target("a")], "r1")
    assert fake_clock.sleeps == []
    source.fetch([Target("b")], "r1")
    assert fake_clock.sleeps == [3600.0]
    assert len(batches.batches) == 2


def test_usage_at_95_percent_beyond_the_longest_wait_sends_nothing_more(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    usage = {"X-App-Usage": json.dumps({"call_count": 99, "total_time": 1, "total_cputime": 1})}
    source, batches = instagram(httpserver, fake_clock, fine, usage)
    source.fetch([Target("a")], "r1")
    [row] = source.fetch([Target("b")], "r1")
    assert row.status == "error"
    assert "rate-limited until" in str(row.detail)
    assert len(batches.batches) == 1


def test_business_use_case_estimate_is_honoured(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    buc = [
        {
            "type": "instagram",
            "call_count": 100,
            "total_cputime": 4,
            "total_time": 4,
            "estimated_time_to_regain_access": 7,
        }
    ]
    usage = {"X-Business-Use-Case-Usage": json.dumps({OWN: buc})}
    source, _ = instagram(httpserver, fake_clock, fine, usage)
    source.fetch([Target("a")], "r1")
    source.fetch([Target("b")], "r1")
    assert fake_clock.sleeps == [420.0]


def test_a_rejected_token_stops_the_platform_without_another_request(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        return 400, fixture_json("meta/token_expired_190.json")

    source, batches = instagram(httpserver, fake_clock, answer)
    first = source.fetch([Target("a"), Target("b")], "r1")
    later = source.fetch([Target("c")], "r1")
    assert len(batches.batches) == 1
    assert {row.status for row in first + later} == {"error"}
    assert {row.detail for row in first + later} == {first[0].detail}
    assert "META_ACCESS_TOKEN" in str(first[0].detail)
    assert "code 190/463" in str(first[0].detail)


def test_a_wrong_own_id_names_the_setting_and_stops(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        return 400, fixture_json("instagram/own_id_803.json")

    source, batches = instagram(httpserver, fake_clock, answer)
    [row] = source.fetch([Target("a")], "r1")
    [later] = source.fetch([Target("b")], "r1")
    assert "FOLLOWERLEDGER_INSTAGRAM_USER_ID" in str(row.detail)
    assert later.detail == row.detail
    assert len(batches.batches) == 1


def test_a_permanent_error_is_not_retried(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        return 400, fixture_json("meta/permanent_36000.json")

    source, batches = instagram(httpserver, fake_clock, answer)
    [row] = source.fetch([Target("a")], "r1")
    assert row.status == "error"
    assert "code 36000/2207004" in str(row.detail)
    assert len(batches.batches) == 1
    assert fake_clock.sleeps == []


def test_a_null_entry_is_sent_once_more_alone_then_is_an_error(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        name = target_of(url)
        if (name == "slow" and attempt == 0) or name == "never":
            return None
        return fine(url, attempt)

    source, batches = instagram(httpserver, fake_clock, answer)
    result = source.fetch([Target("a"), Target("slow"), Target("never")], "r1")
    assert [row.status for row in result] == ["ok", "ok", "error"]
    assert "timed out" in str(result[2].detail)
    assert [[target_of(url) for url in batch] for batch in batches.batches] == [
        ["a", "slow", "never"],
        ["slow", "never"],
    ]
    assert source.usage().quota_units == 5


def test_an_echoed_token_is_redacted(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        return 400, {"error": {"message": f"Malformed access token {TOKEN}", "code": 1234}}

    source, _ = instagram(httpserver, fake_clock, answer)
    [row] = source.fetch([Target("a")], "r1")
    assert TOKEN not in str(row.detail)
    assert "***" in str(row.detail)


def test_the_own_id_is_required_and_numeric() -> None:
    base = {"meta_access_token": TOKEN}
    [missing] = missing_config(load_settings(**base, instagram_user_id=None), ["instagram"])
    assert missing.startswith("FOLLOWERLEDGER_INSTAGRAM_USER_ID is not set")
    [wrong] = missing_config(load_settings(**base, instagram_user_id="me"), ["instagram"])
    assert "not a numeric id" in wrong
    assert missing_config(load_settings(**base, instagram_user_id=OWN), ["instagram"]) == []


@pytest.mark.parametrize(
    ("written", "handle"),
    [
        ("@nike", "nike"),
        ("https://www.instagram.com/nike/", "nike"),
        ("instagram.com/Nike.Store", "Nike.Store"),
        ("nike_", "nike_"),
    ],
)
def test_written_forms(written: str, handle: str) -> None:
    assert PLATFORM.read_written(written) == handle
    assert PLATFORM.handle_pattern.match(handle)


@pytest.mark.parametrize("bad", [".nike", "nike.", "ni..ke", "a" * 31, "ni-ke", ""])
def test_bad_usernames(bad: str) -> None:
    assert not PLATFORM.handle_pattern.match(bad)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
DISCOVERY = st.fixed_dictionaries(
    {
        "business_discovery": st.dictionaries(
            st.sampled_from(
                ["id", "username", "name", "followers_count", "follows_count", "media_count"]
            ),
            JSON,
        )
    }
)


@settings(max_examples=200, deadline=None)
@given(body=JSON | DISCOVERY)
def test_any_json_answer_is_one_row(body: Any) -> None:
    row = parse_discovery(body, Target("brand"), rows())
    assert row.requested_handle == "brand"
    assert row.status in {"ok", "hidden", "not_found", "error"}


@settings(max_examples=100, deadline=None)
@given(entries=st.lists(st.tuples(st.none() | st.integers(0, 600), JSON | DISCOVERY), max_size=6))
def test_any_batch_entries_give_one_row_per_target(entries: list[tuple[int | None, Any]]) -> None:
    source = InstagramSource.__new__(InstagramSource)
    InstagramSource.__init__(source, None, OWN)  # type: ignore[arg-type]
    batch = [Target(f"t{i}") for i in range(len(entries))]
    result = source._rows(batch, [Entry(code, body) for code, body in entries], rows())
    assert [row.requested_handle for row in result] == [t.handle for t in batch]


def test_the_budget_counts_calls_so_a_batch_of_50_plans_50() -> None:
    settings_ = load_settings(meta_access_token=TOKEN, instagram_user_id=OWN)
    batches = [[Target(f"b{i}") for i in range(50)], [Target("last")]]
    assert planned_requests("instagram", batches, settings_) == {PLATFORM.policy: 51}
    assert PLATFORM.accounts_per_unit == 1


def test_a_whole_batch_refused_for_its_token_stops_the_platform(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_request("/", method="POST").respond_with_data(
        fixture_text("meta/token_expired_190.json"), status=400, content_type="application/json"
    )
    settings_ = load_settings(
        graph_api_url=httpserver.url_for(""), meta_access_token=TOKEN, instagram_user_id=OWN
    )
    source = build_source(
        "instagram", settings_, clock=fake_clock, sleep=fake_clock.sleep, throttle_for=unpaced
    )
    first = source.fetch([Target("a"), Target("b")], "r1")
    later = source.fetch([Target("c")], "r1")
    assert len(httpserver.log) == 1
    assert {row.detail for row in first + later} == {first[0].detail}
    assert "META_ACCESS_TOKEN" in str(first[0].detail)


def test_a_retry_of_null_entries_that_fails_keeps_the_first_answers(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        return None if target_of(url) == "slow" else fine(url, attempt)

    batches = BatchServer(answer)
    httpserver.expect_oneshot_request("/", method="POST").respond_with_handler(batches)
    httpserver.expect_request("/", method="POST").respond_with_data("down", status=503)
    settings_ = load_settings(
        graph_api_url=httpserver.url_for(""),
        meta_access_token=TOKEN,
        instagram_user_id=OWN,
        http_attempts=2,
    )
    source = build_source(
        "instagram", settings_, clock=fake_clock, sleep=fake_clock.sleep, throttle_for=unpaced
    )
    result = source.fetch([Target("a"), Target("slow")], "r1")
    assert [row.status for row in result] == ["ok", "error"]


def test_a_transient_entry_is_sent_once_more_and_a_permanent_one_is_not(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        name = target_of(url)
        if name == "flaky" and attempt == 0:
            return 500, {"error": {"message": "busy", "code": 2, "is_transient": True}}
        if name == "refused":
            return 400, fixture_json("meta/permanent_36000.json")
        return fine(url, attempt)

    source, batches = instagram(httpserver, fake_clock, answer)
    result = source.fetch([Target("flaky"), Target("refused")], "r1")
    assert [row.status for row in result] == ["ok", "error"]
    assert [[target_of(url) for url in batch] for batch in batches.batches] == [
        ["flaky", "refused"],
        ["flaky"],
    ]


def test_an_own_id_that_is_no_object_names_the_setting(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    unsupported = {
        "error": {
            "message": "Unsupported get request. Object with ID '123' does not exist, cannot "
            "be loaded due to missing permissions, or does not support this operation.",
            "type": "GraphMethodException",
            "code": 100,
            "error_subcode": 33,
        }
    }

    def answer(url: str, attempt: int) -> EntryAnswer:
        return 400, unsupported

    source, _ = instagram(httpserver, fake_clock, answer)
    [row] = source.fetch([Target("a")], "r1")
    assert row.status == "error"
    assert "FOLLOWERLEDGER_INSTAGRAM_USER_ID" in str(row.detail)
    assert source.stop.detail == row.detail


def test_built_without_an_own_id_it_sends_nothing_and_names_the_setting(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    source, batches = instagram(httpserver, fake_clock, fine, instagram_user_id=None)
    [row] = source.fetch([Target("a")], "r1")
    assert row.status == "error"
    assert str(row.detail).startswith("FOLLOWERLEDGER_INSTAGRAM_USER_ID is not set")
    assert batches.batches == []
