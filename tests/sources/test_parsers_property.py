"""Property: whatever JSON a platform sends, a parser gives one row per account or refuses
the answer as malformed — nothing else escapes into a run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from followerledger.observation import STATUSES, Observation
from followerledger.sources.base import MalformedAnswer, RowFactory, Target
from followerledger.sources.bluesky import parse_profiles
from followerledger.sources.mastodon import account_row
from followerledger.sources.x import parse_users
from followerledger.sources.youtube import parse_channels

AT = datetime(2026, 11, 26, tzinfo=UTC)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**63)
    | st.floats(allow_nan=True)
    | st.text(max_size=12)
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
            assert count is None or (isinstance(count, int) and count >= 0)
        assert row.followers is None or row.status == "ok"


def rows(platform: str) -> RowFactory:
    return RowFactory("run-1", platform, AT, "api")


@settings(max_examples=200, deadline=None)
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


@settings(max_examples=200, deadline=None)
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


@settings(max_examples=200, deadline=None)
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


@settings(max_examples=200, deadline=None)
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
