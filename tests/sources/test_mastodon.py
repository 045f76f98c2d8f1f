"""Mastodon source: official bodies -> exact rows; lookup, id reads per instance, versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pytest_httpserver import HTTPServer

from followerledger.emulator import EmulatorServer, Fault
from followerledger.settings import load_settings
from followerledger.sources import build_source
from followerledger.sources.base import RowFactory, Target
from followerledger.sources.mastodon import MastodonSource, account_row, parse_version
from tests.conftest import FakeClock, fixture_json, fixture_text

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def rows() -> RowFactory:
    return RowFactory("run-1", "mastodon", AT, "api")


def mastodon_source(url: str, clock: FakeClock) -> MastodonSource:
    source = build_source(
        "mastodon", load_settings(mastodon_api_url=url), clock=clock, sleep=clock.sleep
    )
    assert isinstance(source, MastodonSource)
    return source


def test_local_account_from_the_docs() -> None:
    row = account_row(
        fixture_json("mastodon/account_local.json"),
        Target("Gargron@mastodon.social"),
        rows(),
        "mastodon.social",
    )
    assert (row.status, row.handle, row.account_id, row.followers, row.following, row.posts) == (
        "ok",
        "Gargron@mastodon.social",
        "mastodon.social:1",
        318699,
        453,
        61013,
    )
    assert row.display_name == "Eugen"


def test_suspended_account_zeros_are_not_data() -> None:
    row = account_row(
        fixture_json("mastodon/account_suspended.json"),
        Target("stigatle@quitter.no"),
        rows(),
        "mastodon.social",
    )
    assert (row.status, row.followers, row.following, row.posts) == ("suspended", None, None, None)
    assert row.account_id == "mastodon.social:14"


def test_moved_and_hidden() -> None:
    account = fixture_json("mastodon/account_local.json")
    account["moved"] = {"id": "2", "username": "Gargron", "acct": "Gargron@mastodon.online"}
    moved = account_row(account, Target("Gargron@mastodon.social"), rows(), "mastodon.social")
    assert (moved.status, moved.followers, moved.detail) == (
        "ok",
        318699,
        "moved to @Gargron@mastodon.online",
    )
    account.pop("moved")
    account["followers_count"] = -1
    hidden = account_row(account, Target("Gargron@mastodon.social"), rows(), "mastodon.social")
    assert (hidden.status, hidden.followers, hidden.following) == ("hidden", None, 453)


def test_parse_version() -> None:
    assert parse_version("4.3.2") == (4, 3)
    assert parse_version("4.2.10+glitch") == (4, 2)
    assert parse_version("garbage") == (0, 0)


def test_lookup_then_one_id_request_per_instance(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_request(
        "/api/v1/accounts/lookup", query_string={"acct": "Gargron@mastodon.social"}
    ).respond_with_data(
        fixture_text("mastodon/account_local.json"), content_type="application/json"
    )
    httpserver.expect_request(
        "/api/v1/accounts/lookup", query_string={"acct": "nobody@mastodon.social"}
    ).respond_with_data(
        fixture_text("mastodon/lookup_not_found.json"), status=404, content_type="application/json"
    )
    source = mastodon_source(httpserver.url_for(""), fake_clock)
    first = [
        row
        for batch in source.plan(
            [Target("Gargron@mastodon.social"), Target("nobody@mastodon.social")]
        )
        for row in source.fetch(batch, "run-1")
    ]
    assert [(r.status, r.account_id, r.detail) for r in first] == [
        ("ok", "mastodon.social:1", None),
        ("not_found", None, "HTTP 404: Record not found"),
    ]

    # Next run: by id, the instance's version first, then one accounts?id[] request.
    httpserver.expect_request("/api/v2/instance").respond_with_json({"version": "4.3.0"})
    httpserver.expect_request(
        "/api/v1/accounts", query_string="id%5B%5D=1&id%5B%5D=2"
    ).respond_with_data(
        fixture_text("mastodon/accounts_id_list.json"), content_type="application/json"
    )
    httpserver.expect_request("/api/v1/accounts/2").respond_with_data(
        fixture_text("mastodon/lookup_not_found.json"), status=404, content_type="application/json"
    )
    source = mastodon_source(httpserver.url_for(""), fake_clock)
    targets = [
        Target("Gargron@mastodon.social", "mastodon.social:1"),
        Target("gone@mastodon.social", "mastodon.social:2"),
    ]
    assert [len(b) for b in source.plan(targets)] == [2]
    second = source.fetch(targets, "run-2")
    assert [(r.status, r.followers) for r in second] == [("ok", 318699), ("not_found", None)]
    paths = [entry[0].path for entry in httpserver.log[2:]]
    assert paths == ["/api/v2/instance", "/api/v1/accounts", "/api/v1/accounts/2"]


def test_instances_older_than_4_3_are_read_one_id_at_a_time(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    emulator.state.world.mastodon_version = "4.2.10"
    source = mastodon_source(emulator.url, fake_clock)
    handles = ["a@one.example", "b@one.example", "c@two.example"]
    first = [r for b in source.plan([Target(h) for h in handles]) for r in source.fetch(b, "r1")]
    resolved = [Target(r.requested_handle or "", r.account_id) for r in first]
    second = [r for b in source.plan(resolved) for r in source.fetch(b, "r2")]
    assert [r.status for r in second] == ["ok"] * 3
    requests = emulator.state.requests
    assert requests["mastodon:/api/v1/accounts/lookup"] == 3
    assert requests["mastodon:/api/v2/instance"] == 2
    assert "mastodon:/api/v1/accounts" not in requests
    assert (
        sum(
            n
            for path, n in requests.items()
            if path.startswith("mastodon:/api/v1/accounts/") and "lookup" not in path
        )
        == 3
    )


def test_emulated_states(emulator: EmulatorServer, fake_clock: FakeClock) -> None:
    source = mastodon_source(emulator.url, fake_clock)
    handles = [
        "ok@mastodon.social",
        "gone@mastodon.social",
        "suspendeduser@mastodon.social",
        "moveduser@mastodon.social",
        "hiddenuser@mastodon.social",
    ]
    first = [r for b in source.plan([Target(h) for h in handles]) for r in source.fetch(b, "r1")]
    assert [(r.status, r.detail) for r in first] == [
        ("ok", None),
        ("not_found", "HTTP 404: Record not found"),
        ("suspended", "suspended by its instance"),
        ("ok", "moved to @moveduser_new@mastodon.social"),
        ("hidden", "the account hides its follower count"),
    ]
    # By id: the suspended account is left out of accounts?id[] and classified by id.
    resolved = [Target(r.requested_handle or "", r.account_id) for r in first if r.account_id]
    second = [r for b in source.plan(resolved) for r in source.fetch(b, "r2")]
    assert sorted((r.requested_handle, r.status) for r in second) == sorted(
        (r.requested_handle, r.status) for r in first if r.account_id
    )


def test_iso8601_rate_limit_reset_is_honoured(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    emulator.state.clock = fake_clock
    emulator.state.faults.add(Fault("mastodon", "rate_limit", seconds=75))
    source = mastodon_source(emulator.url, fake_clock)
    [row] = source.fetch([Target("ok@mastodon.social")], "r1")
    assert row.status == "ok"
    assert fake_clock.sleeps == [pytest.approx(75, abs=1)]
    assert fake_clock.now >= AT + timedelta(seconds=74)


def test_broken_bodies_are_retried_on_every_kind_of_request(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    source = mastodon_source(emulator.url, fake_clock)
    emulator.state.faults.add(Fault("mastodon", "truncated"))
    [first] = source.fetch([Target("ok@mastodon.social")], "r1")
    assert first.status == "ok"
    resolved = Target("ok@mastodon.social", first.account_id)
    # Read by id: the version check answered broken, then (version known) accounts?id[].
    emulator.state.faults.add(Fault("mastodon", "malformed"))
    [second] = source.fetch([resolved], "r2")
    emulator.state.faults.add(Fault("mastodon", "truncated"))
    [third] = source.fetch([resolved], "r3")
    assert (second.status, third.status) == ("ok", "ok")
    assert second.followers == third.followers == first.followers
    requests = emulator.state.requests
    assert requests["mastodon:/api/v1/accounts/lookup"] == 2
    assert (requests["mastodon:/api/v2/instance"], requests["mastodon:/api/v1/accounts"]) == (2, 3)
    by_id = [
        p for p in requests if p.startswith("mastodon:/api/v1/accounts/") and "lookup" not in p
    ]
    assert by_id == []


def test_a_failing_read_of_one_id_costs_only_its_own_account(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    httpserver.expect_request("/api/v2/instance").respond_with_json({"version": "4.3.2"})
    httpserver.expect_request("/api/v1/accounts").respond_with_data(
        f"[{fixture_text('mastodon/account_local.json')}]", content_type="application/json"
    )
    # accounts?id[] left the second account out; its own read by id then fails.
    httpserver.expect_request("/api/v1/accounts/2").respond_with_data("", status=503)
    source = build_source(
        "mastodon",
        load_settings(mastodon_api_url=httpserver.url_for(""), http_attempts=2),
        clock=fake_clock,
        sleep=fake_clock.sleep,
    )
    batch = [
        Target("Gargron@mastodon.social", "mastodon.social:1"),
        Target("other@mastodon.social", "mastodon.social:2"),
    ]
    found, failed = source.fetch(batch, "r1")
    assert (found.status, found.followers) == ("ok", 318699)
    assert (failed.status, failed.detail) == (
        "error",
        "mastodon answered HTTP 503 (gave up after 2 attempts)",
    )
