"""What the Meta sources share: error codes, usage headers, Graph batches, POST in ApiClient."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from followerledger.settings import Settings
from followerledger.sources.http import ApiClient, RateLimited
from followerledger.sources.meta_graph import (
    APP_WINDOW,
    GRAPH_VERSION,
    batch_entries,
    batch_form,
    graph_error,
    read_usage,
    throttled,
)
from tests.conftest import FakeClock, fixture_json


def test_one_pinned_version_is_the_default_url() -> None:
    assert GRAPH_VERSION == "v25.0"
    assert Settings().graph_api_url == "https://graph.facebook.com/v25.0"
    assert Settings().threads_api_url == "https://graph.threads.net/v1.0"


@pytest.mark.parametrize(
    ("name", "kind", "code", "subcode"),
    [
        ("meta/token_expired_190.json", "token", 190, 463),
        ("instagram/not_found_110_zh.json", "other", 110, 2207013),
        ("facebook/object_missing_100.json", "other", 100, None),
        ("meta/permanent_36000.json", "other", 36000, 2207004),
    ],
)
def test_errors_are_classified_by_code(
    name: str, kind: str, code: int, subcode: int | None
) -> None:
    error = graph_error(fixture_json(name))
    assert error is not None
    assert (error.kind, error.code, error.subcode) == (kind, code, subcode)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (102, "token"),
        (10, "permission"),
        (200, "permission"),
        (299, "permission"),
        (4, "throttle"),
        (17, "throttle"),
        (32, "throttle"),
        (341, "throttle"),
        (613, "throttle"),
        (80000, "throttle"),
        (80014, "throttle"),
        (80015, "other"),
        (300, "other"),
    ],
)
def test_code_ranges(code: int, kind: str) -> None:
    error = graph_error({"error": {"code": code, "message": "whatever the locale says"}})
    assert error is not None
    assert error.kind == kind


def test_usage_headers() -> None:
    assert read_usage({}) is None
    assert read_usage({"x-app-usage": "not json"}) is None
    low = read_usage({"x-app-usage": '{"call_count":28,"total_time":25,"total_cputime":25}'})
    assert low is not None
    assert (low.remaining, low.retry_in) == (67, None)
    high = read_usage({"x-app-usage": '{"call_count":2,"total_time":95,"total_cputime":3}'})
    assert high is not None
    assert (high.remaining, high.retry_in) == (0, APP_WINDOW)
    buc = {
        "112130216863063": [
            {
                "type": "pages",
                "call_count": 100,
                "total_cputime": 1,
                "total_time": 1,
                "estimated_time_to_regain_access": 19,
            }
        ]
    }
    regain = read_usage({"x-business-use-case-usage": json.dumps(buc)})
    assert regain is not None
    assert (regain.remaining, regain.retry_in) == (0, 19 * 60)


def test_a_throttled_answer_is_the_whole_bodys_not_one_batch_entrys() -> None:
    response = requests.Response()
    response.status_code = 403
    response._content = b'{"error":{"code":17}}'
    found = throttled(response)
    assert found is not None
    assert "17" in found.why
    response.status_code = 200
    entries = [{"code": 200, "body": "{}"}, {"code": 403, "body": '{"error":{"code":17}}'}]
    response._content = json.dumps(entries).encode()
    # send_batch sends the throttled entry alone again; the client must not resend the rest.
    assert throttled(response) is None
    response._content = json.dumps([{"code": 400, "body": '{"error":{"code":110}}'}]).encode()
    assert throttled(response) is None


def test_an_entry_body_with_half_a_character_is_read() -> None:
    entries = batch_entries([{"code": 200, "body": '{"name":"\ud83d"}'}], 1)
    assert entries[0].body == {"name": "\ud83d"}
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps([{"code": 200, "body": '"\ud83d"'}]).encode()
    assert throttled(response) is None


def test_batch_form_and_entries() -> None:
    form = batch_form(["1?fields=id"])
    assert json.loads(form["batch"]) == [{"method": "GET", "relative_url": "1?fields=id"}]
    assert form["include_headers"] == "false"
    entries = batch_entries([{"code": 200, "body": '{"id":"1"}'}, None], 3)
    assert [(entry.code, entry.body) for entry in entries] == [
        (200, {"id": "1"}),
        (None, None),
        (None, None),
    ]


def test_post_spends_its_cost_on_the_throttle_and_a_relative_reset_uses_the_clock(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    buc = {"1": [{"type": "instagram", "call_count": 99, "estimated_time_to_regain_access": 30}]}
    httpserver.expect_request("/", method="POST").respond_with_data(
        "[]",
        headers={"X-Business-Use-Case-Usage": json.dumps(buc)},
        content_type="application/json",
    )
    taken: list[int] = []
    client = ApiClient(
        "instagram",
        httpserver.url_for(""),
        requests.Session(),
        read_budget=read_usage,
        throttle=lambda: taken.append(1),
        clock=fake_clock,
        sleep=fake_clock.sleep,
        throttled=throttled,
    )
    response = client.post("/", {"batch": "[]"}, cost=7)
    assert response.status_code == 200
    assert httpserver.log[0][0].form["batch"] == "[]"
    assert (len(taken), client.requests_made, client.calls_made) == (7, 1, 7)
    with pytest.raises(RateLimited) as raised:
        client.post("/", {"batch": "[]"})
    assert raised.value.until is not None
    assert (raised.value.until - fake_clock.now).total_seconds() == 1800
    assert client.requests_made == 1


HEADER_TEXT = st.text(max_size=40) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
).map(json.dumps)


@settings(max_examples=300, deadline=None)
@given(app=st.none() | HEADER_TEXT, buc=st.none() | HEADER_TEXT)
def test_any_usage_header_is_read_without_raising(app: str | None, buc: str | None) -> None:
    headers = {
        name: value
        for name, value in (("x-app-usage", app), ("x-business-use-case-usage", buc))
        if value is not None
    }
    budget = read_usage(headers)
    assert budget is None or budget.remaining is not None


@settings(max_examples=300, deadline=None)
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=6),
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.sampled_from(["error", "code", "body", "error_subcode"]), inner)
        ),
        max_leaves=10,
    ),
    count=st.integers(0, 5),
)
def test_any_body_is_read_without_raising(body: Any, count: int) -> None:
    graph_error(body)
    if isinstance(body, list):
        assert len(batch_entries(body, count)) == count
