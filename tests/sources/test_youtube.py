"""YouTube source: string counts, hidden counts, no items, quota exhaustion without a storm."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from followerledger.emulator import EmulatorServer, Fault
from followerledger.settings import load_settings
from followerledger.sources import build_source
from followerledger.sources.base import RowFactory, Target
from followerledger.sources.youtube import YouTubeSource, next_quota_reset, parse_channels
from tests.conftest import FakeClock, fixture_json, fixture_text

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
KEY = "AIza-test-key-0123456789"


def rows() -> RowFactory:
    return RowFactory("run-1", "youtube", AT, "api")


def youtube_source(url: str, clock: FakeClock, key: str = KEY) -> YouTubeSource:
    source = build_source(
        "youtube",
        load_settings(youtube_api_url=url, youtube_api_key=key),
        clock=clock,
        sleep=clock.sleep,
    )
    assert isinstance(source, YouTubeSource)
    return source


def test_string_counts_and_hidden_subscribers() -> None:
    batch = [
        Target("@Dell", "UCdZ5fjGMNb4_hXZY8ubEqmQ"),
        Target("@quiet", "UChiddenAAAAAAAAAAAAAAAA"),
        Target("@gone", "UCgoneAAAAAAAAAAAAAAAAAA"),
    ]
    result = parse_channels(
        fixture_json("youtube/channels_by_id.json"), batch, rows(), by_handle=False
    )
    assert [
        (r.status, r.handle, r.followers, r.posts, r.following, r.display_name) for r in result
    ] == [
        ("ok", "@dell", 123000, 3720, None, "Dell"),
        ("hidden", "@quiet", None, 7, None, "Quiet channel"),
        ("not_found", "@gone", None, None, None, None),
    ]


def test_answer_without_items_is_not_found() -> None:
    [row] = parse_channels(
        fixture_json("youtube/channels_not_found.json"), [Target("@nobody")], rows(), by_handle=True
    )
    assert (row.status, row.detail) == ("not_found", "no channel with this handle")


def test_plan_resolves_handles_once_then_reads_50_ids_per_request() -> None:
    source = YouTubeSource.__new__(YouTubeSource)
    targets = [Target(f"@c{i}", f"UC{i:022d}") for i in range(120)] + [
        Target("@new1"),
        Target("UCdZ5fjGMNb4_hXZY8ubEqmQ"),
        Target("@new2"),
    ]
    assert [len(batch) for batch in source.plan(targets)] == [50, 50, 21, 1, 1]


def test_request_shape(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    httpserver.expect_request("/channels").respond_with_data(
        fixture_text("youtube/channels_by_id.json"), content_type="application/json"
    )
    source = youtube_source(httpserver.url_for(""), fake_clock)
    source.fetch([Target("@Dell")], "r1")
    source.fetch(
        [Target("@Dell", "UCdZ5fjGMNb4_hXZY8ubEqmQ"), Target("@quiet", "UChiddenAAAAAAAAAAAAAAAA")],
        "r1",
    )
    by_handle, by_id = (entry[0].args.to_dict() for entry in httpserver.log)
    assert by_handle == {"part": "statistics,snippet", "key": KEY, "forHandle": "@Dell"}
    assert by_id == {
        "part": "statistics,snippet",
        "key": KEY,
        "maxResults": "50",
        "id": "UCdZ5fjGMNb4_hXZY8ubEqmQ,UChiddenAAAAAAAAAAAAAAAA",
    }
    assert source.usage().quota_units == 2


def test_quota_exhausted_stops_the_platform_without_a_retry_storm(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    emulator.state.faults.add(Fault("youtube", "quota", times=None))
    source = youtube_source(f"{emulator.url}/youtube/v3", fake_clock)
    targets = [Target(f"@channel{i}") for i in range(5)]
    result = [row for batch in source.plan(targets) for row in source.fetch(batch, "r1")]
    assert emulator.state.requests["youtube:/youtube/v3/channels"] == 1
    assert fake_clock.sleeps == []
    assert {r.status for r in result} == {"error"}
    assert {r.detail for r in result} == {
        "YouTube quota exhausted; no more requests this run (the quota resets at "
        f"{next_quota_reset(fake_clock.now):%Y-%m-%dT%H:%M:%SZ})"
    }


def test_quota_exhausted_body_from_the_wild(httpserver: HTTPServer, fake_clock: FakeClock) -> None:
    httpserver.expect_request("/channels").respond_with_data(
        fixture_text("youtube/quota_exceeded_403.json"), status=403, content_type="application/json"
    )
    source = youtube_source(httpserver.url_for(""), fake_clock)
    first = source.fetch([Target("@a")], "r1")
    second = source.fetch([Target("@b")], "r1")
    assert len(httpserver.log) == 1
    assert first[0].detail == second[0].detail
    assert "quota exhausted" in str(first[0].detail)


def test_the_emulator_rounds_like_youtube_and_spends_quota(
    emulator: EmulatorServer, fake_clock: FakeClock
) -> None:
    emulator.state.youtube_quota = 3
    source = youtube_source(f"{emulator.url}/youtube/v3", fake_clock)
    result = [
        row
        for batch in source.plan([Target(f"@brand{i}") for i in range(4)])
        for row in source.fetch(batch, "r1")
    ]
    ok = [row for row in result if row.status == "ok"]
    assert len(ok) == 3
    for row in ok:
        assert row.followers is not None
        digits = str(row.followers)
        assert row.followers < 1000 or digits[3:] == "0" * (len(digits) - 3)
    assert "quota exhausted" in str(result[3].detail)


def test_next_quota_reset_is_midnight_pacific() -> None:
    assert next_quota_reset(datetime(2026, 11, 26, 12, tzinfo=UTC)) == datetime(
        2026, 11, 27, 8, tzinfo=UTC
    )
    assert next_quota_reset(datetime(2026, 7, 1, 6, tzinfo=UTC)) == datetime(
        2026, 7, 1, 7, tzinfo=UTC
    )


def test_broken_bodies_are_retried(emulator: EmulatorServer, fake_clock: FakeClock) -> None:
    emulator.state.faults.add(Fault("youtube", "truncated"))
    emulator.state.faults.add(Fault("youtube", "malformed"))
    source = youtube_source(f"{emulator.url}/youtube/v3", fake_clock)
    [row] = source.fetch([Target("@brand1")], "r1")
    assert row.status == "ok"
    assert emulator.state.requests["youtube:/youtube/v3/channels"] == 3
    assert source.usage().quota_units == 3


def test_a_secret_echoed_across_the_detail_cut_never_survives_in_part(
    httpserver: HTTPServer, fake_clock: FakeClock
) -> None:
    # The platform echoes our key at every position around the 500-character cut of `detail`:
    # not one 4-character piece of it may reach the row.
    paddings = iter(range(430, 520))

    def echo_key(request: Request) -> Response:
        message = "." * next(paddings) + str(request.args["key"]) + " was not accepted"
        body = {"error": {"code": 400, "message": message, "errors": [{"reason": "badRequest"}]}}
        return Response(json.dumps(body), status=400, content_type="application/json")

    httpserver.expect_request("/channels").respond_with_handler(echo_key)
    source = youtube_source(httpserver.url_for(""), fake_clock)
    pieces = {KEY[start : start + 4] for start in range(len(KEY) - 3)}
    for padding in range(430, 520):
        [row] = source.fetch([Target("@acme", "UCacmeAAAAAAAAAAAAAAAAAA")], "run-1")
        assert row.status == "error"
        assert row.detail is not None
        assert len(row.detail) <= 500
        assert not [piece for piece in pieces if piece in row.detail], (padding, row.detail)
        if padding + len(KEY) < 450:
            assert "***" in row.detail


@pytest.mark.parametrize("field", ["id", "subscriberCount"])
def test_a_secret_returned_as_a_refused_value_never_survives_in_part(
    httpserver: HTTPServer, fake_clock: FakeClock, field: str
) -> None:
    # A platform (or a proxy) answering our key where an id or a count belongs: the refused
    # value is named in `detail`, which is redacted before anything of it is cut (a key
    # longer than any value is shown whole).
    key = "AIzaSyA1234567890abcdefghijklmnopqrstuvwxyz"
    body = fixture_json("youtube/channels_by_id.json")
    channel = body["items"][0]
    if field == "id":
        channel["id"] = key
    else:
        channel["statistics"]["subscriberCount"] = key
    httpserver.expect_request("/channels").respond_with_json(body)
    source = youtube_source(httpserver.url_for(""), fake_clock, key)
    # By handle (the answer's id becomes the account's), or by the id already known.
    target = Target("@dell") if field == "id" else Target("@dell", "UCdZ5fjGMNb4_hXZY8ubEqmQ")
    [row] = source.fetch([target], "run-1")
    assert row.status == "error"
    assert row.detail is not None
    pieces = {key[start : start + 4] for start in range(len(key) - 3)}
    assert not [piece for piece in pieces if piece in row.detail], row.detail
