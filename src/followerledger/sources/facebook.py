"""Facebook Pages through the Graph API: `id,name,username,followers_count` per Page.

Contract: ../shared/contracts/meta/facebook (page.md) and README §5, §7.
Each Page is one call, `GET {graph}/{page id or username}?fields=id,name,username,
followers_count`, with a Facebook token (`META_ACCESS_TOKEN`: an app, user or system-user
token of an app with Page Public Content Access or Page Public Metadata Access).

Two ways read many Pages, and both cost one call per Page:
- `GET /?ids=a,b,…` (50 ids per request, a maximum Meta does not state): 1,000 Pages are
  20 requests and 1,000 calls; what one bad id does to the others is unverified (it may
  fail the whole request).
- a Graph batch POST of up to 50 calls: 1,000 Pages are 20 requests and 1,000 calls, and
  each call has an answer of its own ("other requests within the batch should still
  complete successfully").
The batch is used: its failures stay in their entry. `Usage.quota_units` is the calls.

Choices where the contract is unclear:
- `fan_count` is not read: on New Pages Experience Pages (which all Pages are becoming) it
  "will return `followers_count`", and on a Global Page it counts the whole brand, which is
  not the Page's audience; it adds no information about the Page.
- Code 100 ("Object does not exist, cannot be loaded due to missing permission …") is
  `not_found` saying the answer cannot tell a missing Page from one the app may not read;
  check the app's access on a known Page before believing it. 803 (an alias that does not
  exist) is `not_found`.
- A code 100 whose `message` says "Pages Public Content Access requires either app secret
  proof or an app token" is a configuration problem and stops the platform: followerledger
  does not send `appsecret_proof`, so the token must be an app or system-user token. It is
  told by `message` (Meta's English developer text, the same in every locale), never by
  `error_user_msg`/`error_user_title`, which are localized to the token owner.
- `followers_count` absent from a 200 is `hidden` (never observed).
- Identity: the numeric Page id (stable); the username may change. A Page already resolved
  is read by its id.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from followerledger.observation import Observation
from followerledger.sources.base import RowFactory, Target, as_text
from followerledger.sources.meta_graph import (
    HIDDEN,
    META_POLICY,
    META_TOKEN,
    Entry,
    GraphBatchSource,
    GraphError,
    bearer_client,
    read_usage,
    throttled,
)
from followerledger.sources.platform import Connect, Platform, one_call_per_account
from followerledger.sources.profile_links import NotAProfile, link

if TYPE_CHECKING:
    from followerledger.settings import Settings

#: Graph calls per batch POST (Meta's maximum).
BATCH_SIZE: Final = 50
#: Meta's English `message` of the code 100 that asks for appsecret_proof or an app token.
PPCA_NEEDS_PROOF: Final = "requires either app secret proof or an app token"
HOSTS: Final = frozenset(
    {"facebook.com", "www.facebook.com", "m.facebook.com", "web.facebook.com", "fb.com"}
)
#: A numeric Page id, or a Page username: "only alphanumeric characters (A-Z, 0-9) and
#: periods", "at least 5 characters long" (Meta's Help Center) for a username chosen today;
#: Pages that chose theirs earlier keep shorter ones (facebook.com/HP, facebook.com/Dell), so
#: 2 is the least taken. 50 at most is a bound of ours (Meta states none). Meta also says
#: periods and case "can't be used to differentiate usernames" (`john.smith` is
#: `johnsmith`): two such spellings are two watchlist handles that resolve to one Page id,
#: and so one account in the warehouse.
HANDLE: Final = re.compile(r"^(?:[0-9]{1,25}|[A-Za-z0-9.]{2,50})$")
PAGE_ID: Final = re.compile(r"[0-9]{1,25}")
FIELDS: Final = "id,name,username,followers_count"
MISSING_OR_UNREADABLE: Final = (
    "does not exist, or cannot be read without Page Public Content Access / Page Public "
    "Metadata Access (the answer does not say which)"
)
NO_SUCH_ALIAS: Final = "no Page has this username (code 803)"
NEEDED: Final = (
    "reading Pages you do not manage needs the app's Page Public Content Access or Page "
    "Public Metadata Access feature (App Review and business verification), or "
    "pages_read_engagement for your own Pages"
)


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
    client, label = bearer_client(PLATFORM, settings, connect, settings.graph_api_url)
    return FacebookSource(client, label)


#: Facebook Pages (../shared/contracts/meta/facebook): Page ids are digits; a user or app
#: token is Platform-rate-limited (200 calls per user per hour is the floor assumed).
PLATFORM: Final = Platform(
    name="facebook",
    label="Facebook",
    handle_pattern=HANDLE,
    handle_rule="Facebook Pages are usernames of 2 to 50 letters, digits or '.', or numeric "
    "Page ids, written as name, https://www.facebook.com/name or "
    "https://www.facebook.com/profile.php?id=N",
    read_written=read_written,
    account_id=PAGE_ID,
    id_field="id",
    batch_size=BATCH_SIZE,
    policy=META_POLICY,
    read_budget=read_usage,
    build=build,
    emulator="followerledger.emulator.facebook_api",
    credentials=(META_TOKEN,),
    throttled=throttled,
    calls_counted=True,
    planned=one_call_per_account,
)


class FacebookSource(GraphBatchSource):
    """Follower counts of Facebook Pages, 50 calls per Graph batch POST; a rejected token or
    missing access stops it for the run."""

    spec = PLATFORM
    needed = NEEDED

    def relative_url(self, target: Target) -> str:
        """The Page call for one target: by its id once known, else as written."""
        node = target.account_id or target.handle
        return f"{quote(node, safe='')}?{urlencode({'fields': FIELDS})}"

    def _parse(self, body: Any, target: Target, rows: RowFactory) -> Observation:
        return parse_page(body, target, rows)

    def _stops_for(self, error: GraphError) -> str | None:
        if error.code == 100 and PPCA_NEEDS_PROOF in (error.message or ""):
            return (
                f"Facebook refused the user token for Page Public Content Access "
                f"({error.text()}): put an app token or a system-user token in "
                f"{self.credential or META_TOKEN.variable} (followerledger does not send "
                "appsecret_proof); no more Facebook requests this run"
            )
        return None

    def _entry_failed(
        self, target: Target, entry: Entry, error: GraphError | None, rows: RowFactory
    ) -> Observation:
        if error is not None and error.code == 100:
            return rows.status(target, "not_found", f"{MISSING_OR_UNREADABLE} (code 100)")
        if error is not None and error.code == 803:
            return rows.status(target, "not_found", NO_SUCH_ALIAS)
        return super()._entry_failed(target, entry, error, rows)


def parse_page(body: Any, target: Target, rows: RowFactory) -> Observation:
    """The row for one 200 answer of a Page call (any JSON: never raises)."""
    if not isinstance(body, dict):
        return rows.status(target, "error", "the answer is not a JSON object")
    hidden = "followers_count" not in body
    return rows.ok(
        target,
        handle=as_text(body.get("username")),
        account_id=as_text(body.get("id")),
        display_name=as_text(body.get("name")),
        followers=body.get("followers_count"),
        following=None,
        posts=None,
        status="hidden" if hidden else "ok",
        detail=HIDDEN if hidden else None,
        followers_field="followers_count",
    )
