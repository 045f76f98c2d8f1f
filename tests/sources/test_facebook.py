"""Facebook Pages source: Page calls in a Graph batch, each failure in its own entry."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from followerledger.settings import load_settings
from followerledger.sources import build_source
from followerledger.sources.base import RowFactory, Target
from followerledger.sources.facebook import (
    MISSING_OR_UNREADABLE,
    NO_SUCH_ALIAS,
    PLATFORM,
    FacebookSource,
    parse_page,
)
from followerledger.sources.meta_graph import Entry
from followerledger.sources.profile_links import NotAProfile
from tests.conftest import FakeClock, fixture_json
from tests.sources.graph_batches import BatchServer, EntryAnswer, unpaced

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TOKEN = "EAAFacebookPagesTestToken0123456789"
PAGES = fixture_json("facebook/pages_by_ids.json")


def rows() -> RowFactory:
    return RowFactory("run-1", "facebook", AT, "api")


def node_of(relative_url: str) -> str:
    return unquote(urlsplit(relative_url).path)


def page(node: str) -> dict[str, Any]:
    """A recorded Page (keyed by id or username), with followers_count as asked for."""
    for recorded in PAGES.values():
        if node in (recorded["id"], recorded["username"].lower()):
            return {**recorded, "followers_count": recorded["fan_count"] - 1}
    raise KeyError(node)


def facebook(
    server: HTTPServer, clock: FakeClock, answer: Any, **overrides: object
) -> tuple[FacebookSource, BatchServer]:
    batches = BatchServer(answer)
    server.expect_request("/", method="POST").respond_with_handler(batches)
    settings_ = load_settings(
        graph_api_url=server.url_for(""), meta_access_token=TOKEN, **overrides
    )
    source = build_source(
        "facebook", settings_, clock=clock, sleep=clock.sleep, throttle_for=unpaced
    )
    assert isinstance(source, FacebookSource)
    return source, batches


def test_the_recorded_page_without_followers_count_is_hidden_not_its_fan_count() -> None:
    row = parse_page(fixture_json("facebook/page_single.json"), Target("facebookapp"), rows())
    assert (row.status, row.followers, row.account_id, row.handle) == (
        "hidden",
        None,
        "20531316728",
        "facebookapp",
    )


def test_request_shape_and_rows(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        return 200, page(node_of(url))

    source, batches = facebook(httpserver, fake_clock, answer)
    result = source.fetch([Target("facebookapp"), Target("x", "19292868552")], "r1")
    assert [(r.status, r.account_id, r.handle, r.followers) for r in result] == [
        ("ok", "20531316728", "facebookapp", 210103935),
        ("ok", "19292868552", "FacebookforDevelopers", 7966988),
    ]
    [form] = batches.forms
    calls = json.loads(form["batch"])
    assert [node_of(call["relative_url"]) for call in calls] == ["facebookapp", "19292868552"]
    fields = parse_qs(urlsplit(calls[0]["relative_url"]).query)["fields"]
    assert fields == ["id,name,username,followers_count"]
    assert batches.auth == [f"Bearer {TOKEN}"]
    assert TOKEN not in form["batch"]
    assert source.usage().quota_units == 2


def test_a_bad_page_stays_in_its_entry(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        node = node_of(url)
        if node == "123456789":
            return 400, fixture_json("facebook/object_missing_100.json")
        if node == "nosuchpage":
            return 404, {
                "error": {
                    "message": "(#803) Some of the aliases you requested do not exist: nosuchpage",
                    "type": "OAuthException",
                    "code": 803,
                }
            }
        return 200, page(node)

    source, batches = facebook(httpserver, fake_clock, answer)
    result = source.fetch([Target("facebookapp"), Target("123456789"), Target("nosuchpage")], "r1")
    assert [(r.status, r.detail) for r in result] == [
        ("ok", None),
        ("not_found", f"{MISSING_OR_UNREADABLE} (code 100)"),
        ("not_found", NO_SUCH_ALIAS),
    ]
    assert len(batches.batches) == 1


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001])
def test_throttle_codes_wait_then_succeed(
    httpserver: HTTPServer, fake_clock: FakeClock, code: int
) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        if attempt == 0:
            return 400, {"error": {"message": "limit", "type": "OAuthException", "code": code}}
        return 200, page(node_of(url))

    source, _ = facebook(httpserver, fake_clock, answer, max_rate_limit_wait=7200)
    [row] = source.fetch([Target("facebookapp")], "r1")
    assert row.status == "ok"
    assert fake_clock.sleeps == [3600.0]


@pytest.mark.parametrize(("code", "named"), [(190, "META_ACCESS_TOKEN"), (10, "Page Public")])
def test_token_and_permission_errors_stop_the_platform(
    httpserver: HTTPServer, fake_clock: FakeClock, code: int, named: str
) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        return 400, {"error": {"message": "refused", "type": "OAuthException", "code": code}}

    source, batches = facebook(httpserver, fake_clock, answer)
    first = source.fetch([Target("facebookapp")], "r1")
    later = source.fetch([Target("nasa.gov")], "r1")
    assert len(batches.batches) == 1
    assert named in str(first[0].detail)
    assert later[0].detail == first[0].detail


def test_a_permanent_error_is_sent_once(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        return 400, fixture_json("meta/permanent_36000.json")

    source, batches = facebook(httpserver, fake_clock, answer)
    [row] = source.fetch([Target("facebookapp")], "r1")
    assert row.status == "error"
    assert len(batches.batches) == 1


def test_an_echoed_token_is_redacted(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        return 400, {"error": {"message": f"bad token {TOKEN}", "code": 12}}

    source, _ = facebook(httpserver, fake_clock, answer)
    [row] = source.fetch([Target("facebookapp")], "r1")
    assert TOKEN not in str(row.detail)
    assert "***" in str(row.detail)


@pytest.mark.parametrize(
    ("written", "handle"),
    [
        ("https://www.facebook.com/facebookapp", "facebookapp"),
        ("https://www.facebook.com/profile.php?id=20531316728", "20531316728"),
        ("facebook.com/nasa.gov/", "nasa.gov"),
        ("20531316728", "20531316728"),
    ],
)
def test_written_forms(written: str, handle: str) -> None:
    assert PLATFORM.read_written(written) == handle
    assert PLATFORM.handle_pattern.match(handle)


def test_links_to_no_page_and_one_letter_usernames_are_refused() -> None:
    for link in ("https://www.facebook.com/profile.php", "https://www.facebook.com/a/b"):
        with pytest.raises(NotAProfile):
            PLATFORM.read_written(link)
    assert not PLATFORM.handle_pattern.match("a")
    # Older Pages keep usernames shorter than the 5 characters Meta asks of new ones.
    assert PLATFORM.handle_pattern.match("HP")
    assert not PLATFORM.handle_pattern.match("face_book")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
PAGE = st.dictionaries(st.sampled_from(["id", "name", "username", "followers_count"]), JSON)


@settings(max_examples=200, deadline=None)
@given(body=JSON | PAGE)
def test_any_json_answer_is_one_row(body: Any) -> None:
    row = parse_page(body, Target("facebookapp"), rows())
    assert row.requested_handle == "facebookapp"


@settings(max_examples=100, deadline=None)
@given(entries=st.lists(st.tuples(st.none() | st.integers(0, 600), JSON | PAGE), max_size=6))
def test_any_batch_entries_give_one_row_per_target(entries: list[tuple[int | None, Any]]) -> None:
    source = FacebookSource(None)  # type: ignore[arg-type]
    batch = [Target(f"page{i}x") for i in range(len(entries))]
    result = source._rows(batch, [Entry(code, body) for code, body in entries], rows())
    assert [row.requested_handle for row in result] == [t.handle for t in batch]


def test_ppca_asking_for_appsecret_proof_stops_the_platform_not_not_found(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    def answer(url: str, attempt: int) -> EntryAnswer:
        return 400, fixture_json("facebook/pages_ppca_appsecret_100.json")

    source, batches = facebook(httpserver, fake_clock, answer)
    first = source.fetch([Target("facebookapp"), Target("cocacola")], "r1")
    later = source.fetch([Target("nike")], "r1")
    assert [row.status for row in first] == ["error", "error"]
    assert "app token or a system-user token" in str(first[0].detail)
    assert "appsecret_proof" in str(first[0].detail)
    assert later[0].detail == first[0].detail
    assert len(batches.batches) == 1


def test_instagram_and_facebook_spend_one_budget_of_the_meta_token() -> None:
    from followerledger.sources.registry import platform

    instagram, facebook = platform("instagram"), platform("facebook")
    # Equal policies: one process bucket (keyed by policy) and one Prefect limit (by name).
    assert instagram.rate_policy() == facebook.rate_policy()
    assert instagram.rate_policy().name == "meta"
    assert facebook.rate_policy(credential=1).name == "meta-2"
    budgets = {"instagram": (400, 3600), "facebook": (400, 3600)}
    assert instagram.rate_policy(budgets=budgets) == facebook.rate_policy(budgets=budgets)
