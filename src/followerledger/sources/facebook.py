"""Facebook Pages through the Graph API: `id,name,username,followers_count`.

Contract: ../shared/contracts/meta/facebook (page.md) and README §5, §7.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final
from urllib.parse import parse_qs, urlsplit

from followerledger.sources.base import ApiSource
from followerledger.sources.http import no_budget_headers
from followerledger.sources.meta_graph import META_TOKEN
from followerledger.sources.platform import Connect, Platform, RatePolicy
from followerledger.sources.profile_links import NotAProfile, link

if TYPE_CHECKING:
    from followerledger.settings import Settings

#: Graph calls per batch POST (Meta's maximum).
BATCH_SIZE: Final = 50
HOSTS: Final = frozenset(
    {"facebook.com", "www.facebook.com", "m.facebook.com", "web.facebook.com", "fb.com"}
)
#: A numeric Page id, or a Page username: at least 5 letters, digits or '.' (Meta's rule).
HANDLE: Final = re.compile(r"^(?:[0-9]{1,25}|[A-Za-z0-9.]{5,50})$")
PAGE_ID: Final = re.compile(r"[0-9]{1,25}")


def read_written(written: str) -> str:
    """A Page username or numeric id from `name`, `@name`, `https://www.facebook.com/name`
    or `https://www.facebook.com/profile.php?id=N`."""
    if "/" not in written:
        return written.removeprefix("@")
    _, segments = link(written, HOSTS)
    if segments == ["profile.php"]:
        ids = parse_qs(urlsplit(written if "://" in written else f"https://{written}").query)
        values = ids.get("id", [])
        if len(values) == 1 and PAGE_ID.fullmatch(values[0]):
            return values[0]
        raise NotAProfile
    if len(segments) == 1:
        return segments[0].removeprefix("@")
    raise NotAProfile


def build(settings: Settings, connect: Connect) -> FacebookSource:
    """The source, sending its credential's token in the Authorization header."""
    assert connect.credential is not None
    token = connect.credential.secret
    session = connect.session({"Authorization": f"Bearer {token}"})
    policy = PLATFORM.rate_policy(budgets=settings.budgets, credential=connect.index)
    client = connect.client(settings.graph_api_url, session, policy, [token])
    return FacebookSource(client, connect.credential.label)


#: Facebook Pages (../shared/contracts/meta/facebook): Page ids are digits; a user or app
#: token is Platform-rate-limited (200 calls per user per hour is the floor assumed).
PLATFORM: Final = Platform(
    name="facebook",
    label="Facebook",
    handle_pattern=HANDLE,
    handle_rule="Facebook Pages are usernames of at least 5 letters, digits or '.', or numeric "
    "Page ids, written as name, https://www.facebook.com/name or "
    "https://www.facebook.com/profile.php?id=N",
    read_written=read_written,
    account_id=PAGE_ID,
    id_field="id",
    batch_size=BATCH_SIZE,
    policy=RatePolicy("facebook", 200, 3600),
    read_budget=no_budget_headers,
    build=build,
    emulator="followerledger.emulator.facebook_api",
    credentials=(META_TOKEN,),
)


class FacebookSource(ApiSource):
    """Follower counts of Facebook Pages, by Page id or username."""

    spec = PLATFORM
