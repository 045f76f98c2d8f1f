"""Instagram Graph API `business_discovery`: one target per call, up to 50 calls per batch.

Contract: ../shared/contracts/meta/instagram (business-discovery.md) and README §5-§6.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from followerledger.sources.base import ApiSource
from followerledger.sources.http import no_budget_headers
from followerledger.sources.meta_graph import META_TOKEN
from followerledger.sources.platform import Connect, Platform, RatePolicy
from followerledger.sources.profile_links import profile_handle

if TYPE_CHECKING:
    from followerledger.settings import Settings

#: Graph calls per batch POST (Meta's maximum).
BATCH_SIZE: Final = 50
HOSTS: Final = frozenset({"instagram.com", "www.instagram.com", "m.instagram.com"})
#: 1-30 letters, digits, '.' or '_'; no '.' first or last, no '..'.
USERNAME: Final = re.compile(r"^(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9._]{1,30}$")


def read_written(written: str) -> str:
    """A username from `name`, `@name` or `https://www.instagram.com/name/`."""
    return profile_handle(written, HOSTS)


def build(settings: Settings, connect: Connect) -> InstagramSource:
    """The source, calling through the configured IG user id with its credential's token."""
    assert connect.credential is not None
    token = connect.credential.secret
    session = connect.session({"Authorization": f"Bearer {token}"})
    policy = PLATFORM.rate_policy(budgets=settings.budgets, credential=connect.index)
    client = connect.client(settings.graph_api_url, session, policy, [token])
    return InstagramSource(client, connect.credential.label)


def config_problems(settings: Settings) -> list[str]:
    """The IG professional account id every Business Discovery call goes through."""
    if settings.instagram_user_id:
        return []
    return [
        "FOLLOWERLEDGER_INSTAGRAM_USER_ID is not set: put the id of your own Instagram "
        "professional account (linked to a Facebook Page) in the environment or .env "
        "(or skip Instagram with --platform)"
    ]


#: Instagram through the Facebook Graph API (../shared/contracts/meta/instagram): Business
#: Discovery is Platform-rate-limited; 200 calls per user per hour is the only figure given.
PLATFORM: Final = Platform(
    name="instagram",
    label="Instagram",
    handle_pattern=USERNAME,
    handle_rule="Instagram usernames are 1-30 letters, digits, '.' or '_' (no '.' first or "
    "last, no '..'), written as name, @name or https://www.instagram.com/name/",
    read_written=read_written,
    account_id=re.compile(r"[0-9]{1,25}"),
    id_field="business_discovery.id",
    batch_size=BATCH_SIZE,
    policy=RatePolicy("instagram", 200, 3600),
    read_budget=no_budget_headers,
    build=build,
    emulator="followerledger.emulator.instagram_api",
    credentials=(META_TOKEN,),
    config_problems=config_problems,
)


class InstagramSource(ApiSource):
    """Follower counts of Instagram professional accounts, by username."""

    spec = PLATFORM
