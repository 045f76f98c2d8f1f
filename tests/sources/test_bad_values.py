"""One bad value costs one row: counts out of range, digits of other scripts, ids of the wrong
form and lone surrogates become `error` rows (or a repaired name), never `ok`, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from followerledger.delta_lake import DeltaLake
from followerledger.landing import Landing, write_observations
from followerledger.observation import MAX_COUNT, Observation, to_table
from followerledger.sources.base import RowFactory, Target
from followerledger.sources.bluesky import parse_profiles
from followerledger.sources.facebook import parse_page
from followerledger.sources.instagram import parse_discovery
from followerledger.sources.mastodon import account_row
from followerledger.sources.threads import parse_profile
from followerledger.sources.x import parse_users
from followerledger.sources.youtube import parse_channels
from tests.tiny import lake_rows

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DID = "did:plc:abcdefghijklmnopqrstuvwx"
CHANNEL = "UC" + "abcdefghijk_-ABCDEFGHI"

#: The follower field of each platform, as an error detail names it.
FOLLOWERS_FIELD = {
    "x": "public_metrics.followers_count",
    "bluesky": "followersCount",
    "mastodon": "followers_count",
    "youtube": "statistics.subscriberCount",
    "instagram": "business_discovery.followers_count",
    "facebook": "followers_count",
    "threads": "follower_count",
}
ID_FIELD = {
    "x": "id",
    "bluesky": "did",
    "mastodon": "id",
    "youtube": "id",
    "instagram": "business_discovery.id",
    "facebook": "id",
}
GOOD_ID = {
    "x": "2244994945",
    "bluesky": DID,
    "mastodon": "109",
    "youtube": CHANNEL,
    "instagram": "17841407673135339",
    "facebook": "20531316728",
    "threads": "",
}


def one_row(
    platform: str,
    *,
    followers: Any = 10,
    following: Any = 2,
    posts: Any = 3,
    name: Any = "Dell",
    account_id: Any = None,
) -> Observation:
    """The row a parser makes of a one-account answer holding the given values."""
    rows = RowFactory("run-1", platform, AT, "api")
    ident = GOOD_ID[platform] if account_id is None else account_id
    if platform == "x":
        user = {
            "id": ident,
            "username": "alpha",
            "name": name,
            "public_metrics": {
                "followers_count": followers,
                "following_count": following,
                "tweet_count": posts,
            },
        }
        [row] = parse_users({"data": [user]}, [Target("alpha")], rows, by_id=False)
        return row
    if platform == "bluesky":
        profile = {
            "did": ident,
            "handle": "alpha.test",
            "displayName": name,
            "followersCount": followers,
            "followsCount": following,
            "postsCount": posts,
        }
        found, missing = parse_profiles({"profiles": [profile]}, [Target("alpha.test")], rows)
        assert missing == []
        return found[0]
    if platform == "mastodon":
        account = {
            "id": ident,
            "username": "alpha",
            "display_name": name,
            "followers_count": followers,
            "following_count": following,
            "statuses_count": posts,
        }
        return account_row(account, Target("alpha@mastodon.social"), rows, "mastodon.social")
    if platform == "instagram":
        discovered = {
            "id": ident,
            "username": "alpha",
            "name": name,
            "followers_count": followers,
            "follows_count": following,
            "media_count": posts,
        }
        return parse_discovery({"business_discovery": discovered}, Target("alpha"), rows)
    if platform == "facebook":
        page = {"id": ident, "username": "alphapage", "name": name, "followers_count": followers}
        return parse_page(page, Target("alphapage"), rows)
    if platform == "threads":
        profile = {"username": "alpha", "name": name, "follower_count": followers}
        return parse_profile(profile, Target("alpha"), rows)
    channel = {
        "id": ident,
        "snippet": {"title": name, "customUrl": "@alpha"},
        "statistics": {"subscriberCount": followers, "videoCount": posts},
    }
    [row] = parse_channels({"items": [channel]}, [Target("@alpha")], rows, by_handle=True)
    return row


PLATFORMS = ["x", "bluesky", "mastodon", "youtube", "instagram", "facebook", "threads"]


def assert_error_naming(row: Observation, field: str) -> None:
    assert row.status == "error"
    assert (row.followers, row.following, row.posts) == (None, None, None)
    assert row.detail is not None
    assert field in row.detail
    to_table([row])  # and it lands


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_plain_answer_is_ok(platform: str) -> None:
    row = one_row(platform, followers="10" if platform == "youtube" else 10)
    assert (row.status, row.followers, row.display_name) == ("ok", 10, "Dell")
    if platform == "threads":  # its answer has no id
        assert row.account_id is None
        return
    assert row.account_id is not None
    assert row.account_id.endswith(GOOD_ID[platform])


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize(
    "value",
    [
        2**63,
        9223372036854775807,
        MAX_COUNT + 1,
        "9223372036854775807",
        "1" * 5000,  # int() refuses strings this long with a ValueError of its own
        "١٢٣",  # Arabic-Indic digits: int() reads them as 123
        "１２",  # fullwidth digits
        1e308,
        12.0,
        True,
        "12a",
        [12],
    ],
    ids=lambda value: repr(value)[:24],
)
def test_a_bad_follower_count_is_an_error_row_naming_the_field(platform: str, value: Any) -> None:
    row = one_row(platform, followers=value)
    assert_error_naming(row, FOLLOWERS_FIELD[platform])


@pytest.mark.parametrize(
    "platform", ["x", "bluesky", "youtube", "instagram", "facebook", "threads"]
)
def test_a_negative_follower_count_is_an_error_row(platform: str) -> None:
    assert_error_naming(one_row(platform, followers=-5), FOLLOWERS_FIELD[platform])


def test_a_count_at_the_bound_is_kept() -> None:
    assert one_row("x", followers=MAX_COUNT).followers == MAX_COUNT
    assert one_row("youtube", followers=str(MAX_COUNT)).followers == MAX_COUNT


@pytest.mark.parametrize(
    ("platform", "field"),
    [
        ("x", "public_metrics.following_count"),
        ("bluesky", "followsCount"),
        ("mastodon", "following_count"),
        ("instagram", "business_discovery.follows_count"),
    ],
)
@pytest.mark.parametrize("value", [2**63, -3, "٣"], ids=repr)
def test_a_bad_following_count_is_an_error_row(platform: str, field: str, value: Any) -> None:
    assert_error_naming(one_row(platform, following=value), field)


@pytest.mark.parametrize(
    ("platform", "field"),
    [
        ("x", "public_metrics.tweet_count"),
        ("bluesky", "postsCount"),
        ("mastodon", "statuses_count"),
        ("youtube", "statistics.videoCount"),
        ("instagram", "business_discovery.media_count"),
    ],
)
def test_a_bad_post_count_is_an_error_row(platform: str, field: str) -> None:
    assert_error_naming(one_row(platform, posts=2**64), field)


@pytest.mark.parametrize(
    ("platform", "bad"),
    [
        ("x", "abc"),
        ("x", "١٢٣"),
        ("x", "1" * 20),
        ("bluesky", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"),
        ("bluesky", "alpha.test"),
        ("mastodon", "1 2"),
        ("mastodon", "12:34"),
        ("youtube", "UCshort"),
        ("youtube", "XX" + "a" * 22),
        ("instagram", "17841407673135339a"),
        ("instagram", "١٢٣"),
        ("facebook", "facebookapp"),
        ("facebook", "1" * 26),
    ],
)
def test_an_id_of_the_wrong_form_is_an_error_row_and_no_identity(platform: str, bad: str) -> None:
    row = one_row(platform, account_id=bad)
    assert_error_naming(row, ID_FIELD[platform])
    assert row.account_id is None


def test_a_lone_surrogate_in_a_name_is_repaired_and_the_row_kept() -> None:
    for platform in PLATFORMS:
        row = one_row(platform, name="Dell \ud83d", followers="7" if platform == "youtube" else 7)
        assert (row.status, row.followers, row.display_name) == ("ok", 7, "Dell \ufffd")
        to_table([row])


def test_a_lone_surrogate_in_a_handle_or_detail() -> None:
    rows = RowFactory("run-1", "bluesky", AT, "api")
    target = Target("alpha.test")
    row = rows.ok(
        target,
        handle="alpha\udc00.test",
        account_id=DID,
        display_name=None,
        followers=1,
        following=None,
        posts=None,
    )
    assert_error_naming(row, "handle")
    assert row.handle == "alpha.test"
    gone = rows.status(target, "not_found", "no such \ud800 actor")
    assert gone.detail == "no such \ufffd actor"
    to_table([gone])


@pytest.mark.parametrize(
    "bad",
    [
        {"followers": 2**63},
        {"following": -(2**70)},
        {"display_name": "half \ud83d"},
        {"handle": "\udfff"},
        {"detail": "x\ud800", "status": "error"},
    ],
    ids=repr,
)
def test_a_row_arrow_cannot_convert_becomes_an_error_row_not_a_lost_run(
    tmp_path: Path, bad: dict[str, Any]
) -> None:
    def row(requested: str, **changes: Any) -> Observation:
        values: dict[str, Any] = {
            "run_id": "run-1",
            "observed_at": AT,
            "platform": "x",
            "handle": requested,
            "status": "ok",
            "source": "api",
            "account_id": "1",
            "followers": 5,
            "requested_handle": requested,
        }
        return Observation(**(values | changes))

    lake = DeltaLake(tmp_path / "lake")
    landing = Landing(lake, "x", "run-1", AT, row_group_rows=2)
    counts = landing.add([row("a"), row("b", **bad), row("c")])
    landing.add([row("d")])
    written = landing.commit()
    assert written is not None
    stored = sorted(lake_rows(lake), key=lambda r: str(r["requested_handle"]))
    assert [r["requested_handle"] for r in stored] == ["a", "b", "c", "d"]
    assert [r["status"] for r in stored] == ["ok", "error", "ok", "ok"]
    broken = stored[1]
    assert (broken["followers"], broken["account_id"], broken["handle"]) == (None, None, "b")
    field = next(iter(bad))
    assert f"'{field}'" in broken["detail"]
    assert counts == {"ok": 2, "error": 1}
    assert landing.statuses == {"ok": 3, "error": 1}


def test_write_observations_lands_a_batch_with_a_bad_row(tmp_path: Path) -> None:
    lake = DeltaLake(tmp_path / "lake")
    rows = [
        Observation("run-1", AT, "x", "a", "ok", "api", followers=2**64, requested_handle="a"),
        Observation("run-1", AT, "x", "b", "ok", "api", followers=3, requested_handle="b"),
    ]
    write_observations(lake, "x", "run-1", AT, rows)
    stored = sorted(lake_rows(lake), key=lambda r: str(r["requested_handle"]))
    assert [r["status"] for r in stored] == ["error", "ok"]
