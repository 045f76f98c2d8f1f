"""The emulator speaks Meta's Graph API (Instagram Business Discovery, Facebook Pages) and
Threads' profile_lookup in their official shapes, errors, usage headers and faults."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from starlette.routing import Route

from followerledger.emulator import EmulatorServer, EmulatorState, emulator_environment
from followerledger.emulator import world as w
from followerledger.emulator.app import _mounted
from followerledger.emulator.graph_api import MAX_BATCH, relative_call, split_fields
from followerledger.emulator.memory import Window
from followerledger.sources.meta_graph import GRAPH_VERSION
from tests.conftest import FakeClock

FIXTURES = Path(__file__).parent / "fixtures"
TOKEN = {"Authorization": "Bearer emulator-meta-access-token"}
THREADS = {"Authorization": "Bearer emulator-threads-access-token"}
FULL = "{id,username,name,followers_count,follows_count,media_count}"


def discovery(username: str, fields: str = FULL) -> str:
    return f"business_discovery.username({username}){fields}"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def shape(value: Any) -> Any:
    """Keys and types, recursively: what a parser of the body relies on."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


class Meta:
    """One emulator's Graph and Threads base URLs and the caller's IG user id."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        environment = emulator_environment(server.url)
        self.graph = environment["FOLLOWERLEDGER_GRAPH_API_URL"]
        self.threads = environment["FOLLOWERLEDGER_THREADS_API_URL"]
        self.ig = environment["FOLLOWERLEDGER_INSTAGRAM_USER_ID"]

    def discover(
        self, username: str, fields: str = FULL, headers: dict[str, str] | None = None
    ) -> requests.Response:
        return requests.get(
            f"{self.graph}/{self.ig}",
            params={"fields": f"business_discovery.username({username}){fields}"},
            headers=TOKEN if headers is None else headers,
            timeout=5,
        )

    def page(
        self, node: str, fields: str = "id,name,username,followers_count,fan_count"
    ) -> requests.Response:
        return requests.get(
            f"{self.graph}/{node}", params={"fields": fields}, headers=TOKEN, timeout=5
        )

    def batch(self, calls: list[dict[str, str]], **extra: str) -> requests.Response:
        return requests.post(
            f"{self.graph}/",
            data={"batch": json.dumps(calls), **extra},
            headers=TOKEN,
            timeout=5,
        )

    def lookup(
        self, username: str, headers: dict[str, str] | None = None, **params: str
    ) -> requests.Response:
        return requests.get(
            f"{self.threads}/profile_lookup",
            params={"username": username, **params},
            headers=THREADS if headers is None else headers,
            timeout=5,
        )

    def control(self, path: str, payload: dict[str, Any]) -> requests.Response:
        return requests.post(f"{self.server.url}/_emulator/{path}", json=payload, timeout=5)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@contextlib.contextmanager
def serve(state: EmulatorState) -> Iterator[Meta]:
    with EmulatorServer(state) as server:
        yield Meta(server)


@pytest.fixture
def meta(clock: FakeClock) -> Iterator[Meta]:
    with serve(EmulatorState(clock=clock)) as served:
        yield served


def usage(answer: requests.Response) -> dict[str, int]:
    parsed: dict[str, int] = json.loads(answer.headers["X-App-Usage"])
    return parsed


def test_business_discovery_answers_as_the_docs_and_the_recorded_body(meta: Meta) -> None:
    answer = meta.discover("dell")
    body = answer.json()
    assert answer.status_code == 200
    assert body["id"] == meta.ig  # the caller's own id outside
    found = body["business_discovery"]
    assert list(found) == [
        "id",
        "username",
        "name",
        "followers_count",
        "follows_count",
        "media_count",
    ]
    recorded = fixture("instagram/business_discovery.json")
    shared = set(found) & set(recorded["business_discovery"])
    assert {k: shape(found[k]) for k in shared} == {
        k: shape(recorded["business_discovery"][k]) for k in shared
    }
    assert found["id"] == w.instagram_user_id("dell") != meta.ig
    assert len(found["id"]) == 17
    assert found["id"].startswith("17841")
    # The docs example asks two fields and gets `id` after them.
    docs = fixture("instagram/business_discovery_docs_example.json")
    small = meta.discover("dell", "{followers_count,media_count}").json()
    assert shape(small) == shape(docs)
    assert list(small["business_discovery"]) == list(docs["business_discovery"])


@pytest.mark.parametrize("username", ["gone_brand", "missing.one", "personal_shop"])
def test_missing_and_personal_accounts_answer_110_2207013(meta: Meta, username: str) -> None:
    answer = meta.discover(username)
    recorded = fixture("instagram/not_found_110_zh.json")["error"]
    error = answer.json()["error"]
    assert answer.status_code == 400
    assert list(error) == list(recorded)
    for key in ("message", "type", "code", "error_subcode", "is_transient"):
        assert error[key] == recorded[key]
    assert username in error["error_user_msg"]


def test_hidden_counts_are_absent_and_a_wrong_own_id_is_803(meta: Meta) -> None:
    hidden = meta.discover("hidden_brand").json()["business_discovery"]
    assert "followers_count" not in hidden
    assert "media_count" in hidden
    wrong = requests.get(
        f"{meta.graph}/461951327",
        params={"fields": "business_discovery.username(dell){followers_count}"},
        headers=TOKEN,
        timeout=5,
    )
    recorded = fixture("instagram/own_id_803.json")
    assert wrong.status_code == 400
    assert shape(wrong.json()) == shape(recorded)
    assert wrong.json()["error"]["message"] == recorded["error"]["message"]
    unknown_field = meta.discover("dell", "{followers_count,shoe_size}").json()["error"]
    assert (unknown_field["code"], unknown_field["is_transient"]) == (100, False)


def test_pages_by_username_and_id_with_fan_count_equal_to_followers(meta: Meta) -> None:
    by_name = meta.page("DellTechnologies")
    page = by_name.json()
    assert list(page) == ["id", "name", "username", "followers_count", "fan_count"]
    recorded = fixture("facebook/page_single.json")
    assert {k: shape(page[k]) for k in recorded} == shape(recorded)
    assert page["fan_count"] == page["followers_count"] > 0
    assert page["id"].isdigit()
    assert page["username"] == "DellTechnologies"
    by_id = meta.page(page["id"]).json()
    assert by_id == page
    default = meta.page(page["id"], fields="").json()
    assert set(default) == {"id", "name"}
    hidden = meta.page("hidden.brand").json()
    assert "followers_count" not in hidden
    assert "fan_count" not in hidden
    buc = json.loads(by_name.headers["X-Business-Use-Case-Usage"])
    [(business, [entry])] = buc.items()
    assert business.isdigit()
    assert entry["type"] == "pages"
    assert set(entry) == {
        "type",
        "call_count",
        "total_cputime",
        "total_time",
        "estimated_time_to_regain_access",
    }


def test_unknown_pages_answer_100_by_id_and_803_by_username(meta: Meta) -> None:
    by_id = meta.page("99999999999")
    recorded = fixture("facebook/object_missing_100.json")
    assert by_id.status_code == 400
    assert shape(by_id.json()) == shape(recorded)
    assert by_id.json()["error"]["message"] == recorded["error"]["message"]
    assert by_id.json()["error"]["code"] == 100
    by_name = meta.page("gone.page").json()["error"]
    assert by_name["code"] == 803
    assert by_name["message"].endswith(": gone.page")
    suspended = meta.page("suspended.page").json()["error"]
    assert suspended["code"] == 100
    bad_field = meta.page("DellTechnologies", fields="id,likes_total").json()["error"]
    assert bad_field["code"] == 100
    assert "likes_total" in bad_field["message"]


def test_ids_answer_an_object_keyed_by_the_ids_as_sent(meta: Meta) -> None:
    first = meta.page("DellTechnologies").json()["id"]
    answer = requests.get(
        f"{meta.graph}/",
        params={"ids": f"{first},Dell.Outlet", "fields": "id,name,username,fan_count"},
        headers=TOKEN,
        timeout=5,
    )
    body = answer.json()
    assert list(body) == [first, "Dell.Outlet"]
    recorded = fixture("facebook/pages_by_ids.json")
    assert {shape(v)["fan_count"] for v in body.values()} == {
        shape(v)["fan_count"] for v in recorded.values()
    }
    assert all(set(v) == set(next(iter(recorded.values()))) for v in body.values())
    failed = requests.get(
        f"{meta.graph}/",
        params={"ids": f"{first},gone.page", "fields": "id"},
        headers=TOKEN,
        timeout=5,
    )
    assert failed.status_code == 400
    assert failed.json()["error"]["code"] == 803
    counts = requests.get(f"{meta.server.url}/_emulator/requests", timeout=5).json()
    assert counts["facebook:/v25.0/"] == 2
    assert counts["facebook:calls"] == 1 + 2 + 2  # each id is one call


def test_batches_answer_in_order_each_entry_on_its_own(meta: Meta) -> None:
    calls = [
        {
            "method": "GET",
            "relative_url": f"{meta.ig}?fields=business_discovery.username({u}){FULL}",
        }
        for u in ("dell", "gone_brand", "hp")
    ] + [{"method": "GET", "relative_url": f"/{GRAPH_VERSION}/lenovo.page?fields=id,fan_count"}]
    answer = meta.batch(calls)
    entries = answer.json()
    assert answer.status_code == 200
    assert [entry["code"] for entry in entries] == [200, 400, 200, 200]
    bodies = [json.loads(entry["body"]) for entry in entries]
    assert [b["business_discovery"]["username"] for b in (bodies[0], bodies[2])] == ["dell", "hp"]
    assert bodies[1]["error"]["error_subcode"] == 2207013
    assert set(bodies[3]) == {"id", "fan_count"}
    assert all(isinstance(entry["headers"], list) for entry in entries)
    assert {"name": "Content-Type", "value": "text/javascript; charset=UTF-8"} in entries[0][
        "headers"
    ]
    bare = meta.batch(calls[:1], include_headers="false").json()
    assert set(bare[0]) == {"code", "body"}
    counts = requests.get(f"{meta.server.url}/_emulator/requests", timeout=5).json()
    assert counts["instagram:/v25.0/"] == 2  # two HTTP requests ...
    assert counts["instagram:calls"] == 4
    assert counts["facebook:calls"] == 1


def test_more_than_50_calls_in_a_batch_are_refused(meta: Meta) -> None:
    calls = [{"method": "GET", "relative_url": "dell.page?fields=id"}] * (MAX_BATCH + 1)
    answer = meta.batch(calls)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == 100
    assert "Maximum batch size is 50" in error["message"]
    assert meta.batch(calls[:MAX_BATCH]).status_code == 200


def test_a_missing_or_wrong_token_answers_190() -> None:
    with serve(EmulatorState(meta_access_token="right", threads_access_token="also")) as meta:
        recorded = fixture("meta/token_expired_190.json")["error"]
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            answer = meta.discover("dell", headers=headers)
            error = answer.json()["error"]
            assert answer.status_code == 400
            assert (error["code"], error["type"]) == (190, "OAuthException")
            assert error["message"].startswith("Error validating access token")
            assert set(error) == set(recorded)
            threads = meta.lookup("meta", headers=headers).json()["error"]
            assert threads["code"] == 190
        batch = requests.post(
            f"{meta.graph}/",
            data={"batch": json.dumps([{"method": "GET", "relative_url": "dell.page"}])},
            headers={"Authorization": "Bearer wrong"},
            timeout=5,
        )
        assert batch.json()["error"]["code"] == 190
        good = requests.get(f"{meta.graph}/dell.page", params={"access_token": "right"}, timeout=5)
        assert good.status_code == 200
        assert meta.lookup("meta", headers={"Authorization": "Bearer also"}).status_code == 200


def test_usage_rises_per_call_and_a_spent_hour_answers_code_4(clock: FakeClock) -> None:
    with serve(EmulatorState(clock=clock)) as meta:
        assert meta.control("limits", {"platform": "instagram", "limit": 4, "seconds": 3600}).ok
        seen = [usage(meta.discover("dell"))["call_count"] for _ in range(3)]
        assert seen == [25, 50, 75]
        batch = meta.batch(
            [
                {
                    "method": "GET",
                    "relative_url": f"{meta.ig}?fields=business_discovery.username(hp){{id}}",
                }
            ]
            * 2
        )
        codes = [entry["code"] for entry in batch.json()]
        assert codes == [200, 403]  # the batch's second call finds the hour spent
        assert json.loads(batch.json()[1]["body"])["error"]["code"] == 4
        spent = meta.discover("dell")
        assert spent.status_code == 403
        error = spent.json()["error"]
        assert (error["code"], error["is_transient"]) == (4, True)
        assert usage(spent)["call_count"] == 100
        # Rolling: an hour after the first calls, room again.
        clock.now += timedelta(seconds=3660)
        again = meta.discover("dell")
        assert again.status_code == 200
        assert usage(again)["call_count"] == 25


def test_a_spent_pages_budget_answers_32_or_80001_with_the_wait(clock: FakeClock) -> None:
    expected = {32: "meta/page_throttled_32.json", 80001: "meta/pages_buc_throttled_80001.json"}
    for code, name in expected.items():
        state = EmulatorState(clock=clock, limits={"facebook": (2, 3600)})
        state.facebook_throttle_code = code  # type: ignore[assignment]
        with serve(state) as meta:
            assert meta.page("dell.page").status_code == 200
            last = meta.page("dell.page")
            buc = json.loads(last.headers["X-Business-Use-Case-Usage"])
            [[entry]] = buc.values()
            assert entry["call_count"] == 100
            assert entry["estimated_time_to_regain_access"] == 60
            refused = meta.page("dell.page")
            recorded = fixture(name)
            assert refused.status_code == 403
            assert refused.json()["error"]["message"] == recorded["error"]["message"]
            assert shape(refused.json()) == shape(recorded)
            clock.now += timedelta(minutes=30)
            later = json.loads(meta.page("dell.page").headers["X-Business-Use-Case-Usage"])
            assert next(iter(later.values()))[0]["estimated_time_to_regain_access"] == 30


def test_each_token_has_a_budget_of_its_own(clock: FakeClock) -> None:
    state = EmulatorState(clock=clock, limits={"facebook": (1, 3600)})
    with serve(state) as meta:
        assert meta.page("dell.page").status_code == 200
        assert meta.page("dell.page").status_code == 403
        other = requests.get(
            f"{meta.graph}/dell.page", headers={"Authorization": "Bearer second"}, timeout=5
        )
        assert other.status_code == 200
        assert state.credential_requests[("facebook", "second")] == 1


def test_threads_profile_lookup_has_the_documented_shape(meta: Meta) -> None:
    answer = meta.lookup("Dell")
    body = answer.json()
    docs = fixture("threads/profile_lookup.json")
    assert answer.status_code == 200
    assert shape(body) == shape(docs)
    assert list(body) == list(docs)
    assert "id" not in body
    assert "followers_count" not in body
    assert body["username"] == "dell"
    assert body["follower_count"] >= 1000
    small = meta.lookup("dell", fields="username,follower_count").json()
    assert small == {"username": "dell", "follower_count": body["follower_count"]}
    assert "X-App-Usage" not in answer.headers
    for unknown in ("gone_brand", "bad..name"):
        missing = meta.lookup(unknown)
        assert missing.status_code == 400
        assert missing.json()["error"]["code"] == 100


def test_threads_standard_access_reads_only_metas_accounts() -> None:
    with serve(EmulatorState(threads_access="standard")) as meta:
        for username in ("meta", "threads", "instagram", "facebook"):
            assert meta.lookup(username).status_code == 200
        refused = meta.lookup("dell")
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == 10


def test_threads_cap_is_per_token_over_a_rolling_day(clock: FakeClock) -> None:
    with serve(EmulatorState(clock=clock)) as meta:
        assert meta.control("limits", {"platform": "threads", "limit": 2, "seconds": 86400}).ok
        codes = [meta.lookup("dell").status_code for _ in range(3)]
        assert codes == [200, 200, 403]
        capped = meta.lookup("dell").json()["error"]
        assert capped["code"] == 613
        assert meta.lookup("dell", headers={"Authorization": "Bearer other"}).status_code == 200
        clock.now += timedelta(hours=24, minutes=2)
        assert meta.lookup("dell").status_code == 200


def test_faults_answer_in_graph_words(meta: Meta) -> None:
    assert meta.control("faults", {"platform": "instagram", "kind": "status", "code": 503}).ok
    failed = meta.discover("dell")
    assert failed.status_code == 503
    assert failed.json()["error"]["code"] == 2
    assert failed.json()["error"]["is_transient"] is True
    assert meta.control("faults", {"platform": "facebook", "kind": "rate_limit", "seconds": 600}).ok
    limited = meta.page("dell.page")
    assert limited.status_code == 403
    assert "Retry-After" not in limited.headers
    assert limited.json()["error"]["code"] == 32
    assert usage(limited)["call_count"] == 100
    [[entry]] = json.loads(limited.headers["X-Business-Use-Case-Usage"]).values()
    assert entry["estimated_time_to_regain_access"] == 10
    assert meta.control("faults", {"platform": "instagram", "kind": "rate_limit"}).ok
    throttled = meta.discover("dell")
    assert throttled.json()["error"]["code"] == 4
    assert usage(throttled)["call_count"] == 100
    assert meta.control("faults", {"platform": "threads", "kind": "rate_limit"}).ok
    assert meta.lookup("dell").json()["error"]["code"] == 613
    assert meta.control("faults", {"platform": "threads", "kind": "malformed"}).ok
    malformed = meta.lookup("dell")
    assert malformed.status_code == 200
    assert malformed.headers["content-type"].startswith("text/html")
    assert meta.control("faults", {"platform": "facebook", "kind": "truncated"}).ok
    truncated = meta.batch([{"method": "GET", "relative_url": "dell.page?fields=id"}])
    with pytest.raises(requests.JSONDecodeError):
        truncated.json()
    assert meta.control("faults", {"platform": "instagram", "kind": "timeout", "seconds": 0.05}).ok
    assert meta.discover("dell").status_code == 200  # late, but answered
    assert meta.page("dell.page").status_code == 200  # every fault was spent


def test_the_graph_routes_are_mounted_once_and_listed_for_both(meta: Meta) -> None:
    index = requests.get(f"{meta.server.url}/", timeout=5).json()["endpoints"]
    assert index["instagram"] == index["facebook"]
    assert f"/{GRAPH_VERSION}/{{node}}" in index["facebook"]
    assert index["threads"] == ["/v1.0/profile_lookup"]

    async def one(request: Any) -> Any:
        raise AssertionError

    shared = Route("/v25.0/{node}", one)
    assert _mounted({"instagram": [shared], "facebook": [shared]}) == [shared]
    with pytest.raises(ValueError, match="already mounted"):
        _mounted({"instagram": [shared], "facebook": [Route("/v25.0/{node}", one)]})


def test_the_environment_points_at_paths_that_do_not_collide() -> None:
    environment = emulator_environment("http://127.0.0.1:9")
    assert environment["FOLLOWERLEDGER_GRAPH_API_URL"] == f"http://127.0.0.1:9/{GRAPH_VERSION}"
    assert environment["FOLLOWERLEDGER_THREADS_API_URL"] == "http://127.0.0.1:9/v1.0"
    assert environment["FOLLOWERLEDGER_INSTAGRAM_USER_ID"] == w.instagram_caller_id()
    assert environment["META_ACCESS_TOKEN"]
    assert environment["THREADS_ACCESS_TOKEN"]
    paths = {"/youtube/v3", "/2/", "/xrpc/", "/api/", f"/{GRAPH_VERSION}/", "/v1.0/"}
    assert all(not a.startswith(b) for a in paths for b in paths if a != b)


def test_world_ids_and_growth_starts() -> None:
    ig = w.account_id("instagram", "dell")
    assert ig == w.account_id("instagram", "Dell")
    assert len(ig) == 17
    assert ig.isdigit()
    page = w.account_id("facebook", "DellTechnologies")
    assert page.isdigit()
    assert len(page) == 15
    assert w.account_id("facebook", "20531316728") == "20531316728"
    assert w.account_id("threads", "Dell") == "dell"
    starts = {
        "instagram": datetime(2010, 10, 6, tzinfo=UTC),
        "facebook": datetime(2007, 11, 6, tzinfo=UTC),
        "threads": datetime(2023, 7, 5, tzinfo=UTC),
    }
    for platform, start in starts.items():
        assert w.trajectory(platform, "dell").anchor == start
        assert w.followers_at(platform, "dell", start + timedelta(days=2000)) > (
            w.followers_at(platform, "dell", start)
        )
    assert w.World().state("instagram", "personal_shop") == "personal"
    assert w.World().state("x", "personal_shop") == "ok"


def test_a_rolling_window_frees_calls_an_interval_after_they_were_made() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    window = Window(3, 3600, rolling=True)
    assert window.spend(start)
    assert window.spend(start + timedelta(minutes=30), 2)
    assert not window.spend(start + timedelta(minutes=59))
    assert (window.used, window.percent()) == (3, 100)
    assert window.spend(start + timedelta(minutes=61))  # the first call has rolled off
    assert not window.spend(start + timedelta(minutes=62))
    assert window.spend(start + timedelta(minutes=91), 2)
    window.clear()
    assert window.used == 0
    assert window.reset_at is None


_FIELD = st.from_regex(r"[a-z_]{1,12}", fullmatch=True)
_EXPANSION = st.builds(
    lambda name, user, inner: f"{name}.username({user}){{{','.join(inner)}}}",
    _FIELD,
    st.from_regex(r"[a-z0-9._]{1,30}", fullmatch=True),
    st.lists(_FIELD, min_size=1, max_size=5),
)


@given(st.lists(st.one_of(_FIELD, _EXPANSION), max_size=6))
def test_fields_split_at_top_level_commas_only(fields: list[str]) -> None:
    assert split_fields(",".join(fields)) == fields


@given(
    st.from_regex(r"[0-9A-Za-z.]{1,20}", fullmatch=True),
    st.dictionaries(_FIELD, st.from_regex(r"[a-z0-9(){},.]{0,20}", fullmatch=True), max_size=3),
    st.sampled_from(["", "/", f"{GRAPH_VERSION}/", f"/{GRAPH_VERSION}/"]),
)
def test_relative_urls_name_their_node_and_parameters(
    node: str, params: dict[str, str], prefix: str
) -> None:
    from urllib.parse import urlencode

    query = f"?{urlencode(params)}" if params else ""
    assert relative_call(f"{prefix}{node}{query}") == (node, params)


def test_a_partial_fault_leaves_the_later_half_of_a_batch_null(meta: Meta) -> None:
    calls = [{"method": "GET", "relative_url": f"{n}.page.brand?fields=id"} for n in range(5)]
    assert meta.control("faults", {"platform": "facebook", "kind": "partial"}).ok
    entries = meta.batch(calls).json()
    assert [entry is None for entry in entries] == [False, False, True, True, True]
    assert all(entry["code"] == 200 for entry in entries[:2])
    assert None not in meta.batch(calls).json()  # the fault was spent
