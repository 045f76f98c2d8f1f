"""Property: whatever JSON a platform sends, a parser gives one row per account or refuses
the answer as malformed — nothing else escapes into a run, and every row lands: counts in
0..MAX_COUNT, ids of the platform's form on every row that carries one, text Arrow can store.
The landing takes any row at all and loses none."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followerledger.delta_lake import DeltaLake
from followerledger.landing import Landing
from followerledger.observation import MAX_COUNT, STATUSES, Observation, to_table
from followerledger.sources.base import MalformedAnswer, RowFactory, Target
from followerledger.sources.bluesky import parse_profiles
from followerledger.sources.facebook import FacebookSource, parse_page
from followerledger.sources.instagram import InstagramSource, parse_discovery
from followerledger.sources.mastodon import account_row
from followerledger.sources.meta_graph import Entry
from followerledger.sources.registry import platform
from followerledger.sources.threads import parse_profile
from followerledger.sources.x import parse_users
from followerledger.sources.youtube import parse_channels
from tests.tiny import lake_rows

AT = datetime(2026, 11, 26, tzinfo=UTC)

#: Text with every code point, lone surrogates included (JSON's "\\ud83d" decodes to one).
any_text = st.text(st.characters(codec=None, categories=None), max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**63)
    | st.integers()
    | st.sampled_from([MAX_COUNT, MAX_COUNT + 1, 2**63 - 1, 2**63, 2**64, -1])
    | st.floats(allow_nan=True)
    | st.sampled_from([1e308, -1e308, 12.0])
    | st.text(max_size=12)
    | any_text
    | st.sampled_from(["123", "١٢٣", "１２", "9223372036854775807", "did:plc:abc", "UC" + "a" * 22])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def shaped(keys: list[str]) -> st.SearchStrategy[Any]:
    """Objects with the keys a parser looks for, holding arbitrary JSON: closer misses."""
    return st.recursive(
        st.fixed_dictionaries({}, optional=dict.fromkeys(keys, json_values)) | json_values,
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.sampled_from(keys), children, max_size=len(keys))
        ),
        max_leaves=25,
    )


BATCH = [Target("alpha"), Target("beta", "123"), Target("gamma.example.com")]


def check(parse: Callable[[], list[Observation]], expect: int = len(BATCH)) -> None:
    try:
        result = parse()
    except MalformedAnswer:
        return
    assert len(result) == expect
    for row in result:
        assert row.status in STATUSES
        for count in (row.followers, row.following, row.posts):
            assert count is None or (type(count) is int and 0 <= count <= MAX_COUNT)
        assert row.followers is None or row.status == "ok"
        # An id comes from the target (the watchlist's earlier resolution) or matches the form.
        pattern = platform(row.platform).account_id
        known = {target.account_id for target in BATCH}
        assert row.account_id in known or pattern.fullmatch(str(row.account_id))
    to_table(result)  # every row lands as it is


def rows(platform: str) -> RowFactory:
    return RowFactory("run-1", platform, AT, "api")


@settings(max_examples=100, deadline=None)
@given(
    shaped(
        [
            "data",
            "errors",
            "id",
            "username",
            "public_metrics",
            "followers_count",
            "post_count",
            "tweet_count",
            "value",
            "title",
            "detail",
            "resource_id",
        ]
    ),
    st.booleans(),
)
def test_x_parser(body: Any, by_id: bool) -> None:
    check(lambda: parse_users(body, BATCH, rows("x"), by_id=by_id))


@settings(max_examples=100, deadline=None)
@given(
    shaped(
        ["profiles", "did", "handle", "followersCount", "followsCount", "postsCount", "displayName"]
    )
)
def test_bluesky_parser(body: Any) -> None:
    def parse() -> list[Observation]:
        found, missing = parse_profiles(body, BATCH, rows("bluesky"))
        assert len(found) + len(missing) == len(BATCH)
        return found + [rows("bluesky").status(t, "not_found", None) for t in missing]

    check(parse)


@settings(max_examples=100, deadline=None)
@given(
    shaped(
        [
            "id",
            "username",
            "acct",
            "followers_count",
            "following_count",
            "statuses_count",
            "suspended",
            "moved",
            "display_name",
        ]
    )
)
def test_mastodon_parser(body: Any) -> None:
    check(lambda: [account_row(body, BATCH[0], rows("mastodon"), "mastodon.social")], 1)


@settings(max_examples=100, deadline=None)
@given(
    shaped(
        [
            "items",
            "id",
            "snippet",
            "statistics",
            "subscriberCount",
            "videoCount",
            "hiddenSubscriberCount",
            "customUrl",
            "title",
        ]
    ),
    st.booleans(),
)
def test_youtube_parser(body: Any, by_handle: bool) -> None:
    batch = BATCH[:1] if by_handle else BATCH
    check(lambda: parse_channels(body, batch, rows("youtube"), by_handle=by_handle), len(batch))


INSTAGRAM_KEYS = [
    "business_discovery",
    "id",
    "username",
    "name",
    "followers_count",
    "follows_count",
    "media_count",
    "error",
    "code",
]


@settings(max_examples=100, deadline=None)
@given(shaped(INSTAGRAM_KEYS), st.lists(st.none() | st.integers(0, 600), min_size=3, max_size=3))
def test_instagram_parser(body: Any, codes: list[int | None]) -> None:
    check(lambda: [parse_discovery(body, BATCH[0], rows("instagram"))], 1)
    source = InstagramSource(None, "17841405309211844")  # type: ignore[arg-type]
    entries = [Entry(code, body) for code in codes]
    check(lambda: source._rows(BATCH, entries, rows("instagram")))


@settings(max_examples=100, deadline=None)
@given(
    shaped(["id", "name", "username", "followers_count", "error", "code", "error_subcode"]),
    st.lists(st.none() | st.integers(0, 600), min_size=3, max_size=3),
)
def test_facebook_parser(body: Any, codes: list[int | None]) -> None:
    check(lambda: [parse_page(body, BATCH[0], rows("facebook"))], 1)
    source = FacebookSource(None)  # type: ignore[arg-type]
    entries = [Entry(code, body) for code in codes]
    check(lambda: source._rows(BATCH, entries, rows("facebook")))


@settings(max_examples=100, deadline=None)
@given(shaped(["username", "name", "follower_count", "is_verified"]))
def test_threads_parser(body: Any) -> None:
    check(lambda: [parse_profile(body, BATCH[0], rows("threads"))], 1)


observations = st.builds(
    Observation,
    run_id=st.just("run-1"),
    observed_at=st.just(AT),
    platform=st.just("x"),
    handle=any_text,
    status=st.sampled_from(STATUSES),
    source=st.just("api"),
    account_id=st.none() | any_text,
    display_name=st.none() | any_text,
    followers=st.none() | st.integers(),
    following=st.none() | st.integers(),
    posts=st.none() | st.integers(),
    detail=st.none() | any_text,
    requested_handle=st.none() | any_text,
)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(observations, max_size=4), max_size=4))
def test_the_landing_keeps_one_row_for_every_row_given(
    tmp_path: Path, batches: list[list[Observation]]
) -> None:
    landing = Landing(DeltaLake(tmp_path / "lake"), "x", "run-1", AT, row_group_rows=3)
    for batch in batches:
        landing.add(batch)
    written = landing.commit()
    given_rows = [row for batch in batches for row in batch]
    if written is None:
        assert given_rows == []
        return
    stored = lake_rows(landing.lake)
    assert len(stored) == len(given_rows)
    assert sum(landing.statuses.values()) == len(given_rows)
    # A Delta table keeps no row order, and a row Arrow could not convert is kept as an
    # `error` row without its values (its handles repaired): so compare what is kept as
    # multisets. Every row given is there once; every row kept not as `error` was given so.
    kept = Counter((r["status"], r["followers"]) for r in stored if r["status"] != "error")
    assert kept <= Counter((r.status, r.followers) for r in given_rows)
    errors = sum(1 for r in stored if r["status"] == "error")
    assert errors >= sum(1 for r in given_rows if r.status == "error")


def fields(**values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects that may hold each named field, each holding an arbitrary scalar or a good one."""
    return st.fixed_dictionaries({}, optional=values)


def value(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return good | scalars


count = value(st.integers(0, 10**6))
name = value(st.text(max_size=8))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        fields(
            id=value(st.sampled_from(["123", "9"])),
            username=st.sampled_from(["alpha", "beta", "gamma.example.com"]),
            name=name,
            public_metrics=fields(
                followers_count=count, following_count=count, tweet_count=count, post_count=count
            ),
        ),
        max_size=3,
    ),
    st.booleans(),
)
def test_x_parser_on_nearly_valid_answers(users: list[Any], by_id: bool) -> None:
    check(lambda: parse_users({"data": users}, BATCH, rows("x"), by_id=by_id))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        fields(
            did=value(st.just("did:plc:abcdefghijklmnopqrstuvwx")),
            handle=st.sampled_from(["alpha", "beta", "gamma.example.com"]),
            displayName=name,
            followersCount=count,
            followsCount=count,
            postsCount=count,
        ),
        max_size=3,
    )
)
def test_bluesky_parser_on_nearly_valid_answers(profiles: list[Any]) -> None:
    def parse() -> list[Observation]:
        found, missing = parse_profiles({"profiles": profiles}, BATCH, rows("bluesky"))
        return found + [rows("bluesky").status(t, "not_found", None) for t in missing]

    check(parse)


@settings(max_examples=60, deadline=None)
@given(
    fields(
        id=value(st.just("109")),
        username=value(st.just("alpha")),
        display_name=name,
        followers_count=count,
        following_count=count,
        statuses_count=count,
        suspended=st.booleans(),
    )
)
def test_mastodon_parser_on_nearly_valid_answers(account: dict[str, Any]) -> None:
    check(lambda: [account_row(account, BATCH[0], rows("mastodon"), "mastodon.social")], 1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        fields(
            id=value(st.just("UC" + "a" * 22)),
            snippet=fields(title=name, customUrl=value(st.just("@alpha"))),
            statistics=fields(
                subscriberCount=value(st.integers(0, 10**6).map(str)),
                videoCount=value(st.integers(0, 10**6).map(str)),
                hiddenSubscriberCount=st.booleans(),
            ),
        ),
        max_size=2,
    )
)
def test_youtube_parser_on_nearly_valid_answers(channels: list[Any]) -> None:
    batch = BATCH[:1]
    check(lambda: parse_channels({"items": channels}, batch, rows("youtube"), by_handle=True), 1)
