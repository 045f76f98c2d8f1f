"""Instagram Graph API `business_discovery`: one target per call, up to 50 calls per batch.

Contract: ../shared/contracts/meta/instagram (business-discovery.md) and README §5-§6.
Every call goes through your own IG professional account (`FOLLOWERLEDGER_INSTAGRAM_USER_ID`)
with a Facebook user token (`META_ACCESS_TOKEN`):
`GET {graph}/{own id}?fields=business_discovery.username(<target>){id,username,name,
followers_count,follows_count,media_count}`. Up to 50 such calls ride in one Graph batch POST
(`POST {graph}/`, `batch=[…]`, `include_headers=false`); Meta counts each call one against
the budget, so 1,000 accounts cost 20 requests and 1,000 calls. `Usage.quota_units` is the
calls (what the limit counts), `requests` the HTTP requests.

Choices where the contract is unclear:
- 110 (subcode 2207013) is `not_found` meaning "not a Business or Creator account,
  age-gated, or missing": Meta answers the same for personal accounts, so it never means
  deleted. A 200 without `business_discovery` (the unverified shape of an age-gated
  account) is the same `not_found`.
- 803 ("aliases ... do not exist") and 100/33 ("Unsupported get request. Object with ID
  ... does not exist") are about the node every call names, our own id: the platform is
  misconfigured and stops, naming FOLLOWERLEDGER_INSTAGRAM_USER_ID. Another 100 is that
  call's own error row.
- `followers_count` absent from a 200 is `hidden` (never observed).
- A null batch entry (the batch timed out) and a transient failure are sent once more in
  a batch of their own, then are `error` rows (`meta_graph.send_batch`).
- Identity: `business_discovery.id`, stable; lookups still go by the current username, so
  a renamed account answers 110 until the watchlist names it anew.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

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
from followerledger.sources.profile_links import profile_handle

if TYPE_CHECKING:
    from followerledger.settings import Settings
    from followerledger.sources.http import ApiClient

#: Graph calls per batch POST (Meta's maximum).
BATCH_SIZE: Final = 50
HOSTS: Final = frozenset({"instagram.com", "www.instagram.com", "m.instagram.com"})
#: 1-30 letters, digits, '.' or '_'; no '.' first or last, no '..'.
USERNAME: Final = re.compile(r"^(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9._]{1,30}$")
OWN_ID: Final = re.compile(r"[0-9]{1,25}")
FIELDS: Final = "id,username,name,followers_count,follows_count,media_count"
OWN_ID_SETTING: Final = "FOLLOWERLEDGER_INSTAGRAM_USER_ID"
NOT_PROFESSIONAL: Final = (
    "not a Business or Creator account, age-gated, or missing "
    "(Instagram answers the same for each; never taken as deleted)"
)
NEEDED: Final = (
    "the token needs instagram_basic, instagram_manage_insights and pages_read_engagement, "
    "from a Facebook user with a role on the Page your IG professional account is linked to"
)


def read_written(written: str) -> str:
    """A username from `name`, `@name` or `https://www.instagram.com/name/`."""
    return profile_handle(written, HOSTS)


def build(settings: Settings, connect: Connect) -> InstagramSource:
    """The source, calling through the configured IG user id with its credential's token."""
    client, label = bearer_client(PLATFORM, settings, connect, settings.graph_api_url)
    source = InstagramSource(client, (settings.instagram_user_id or "").strip(), label)
    # Checked before a run (`require_config`); built without it, the source sends nothing.
    for problem in config_problems(settings):
        source.stop.stop(problem)
    return source


def config_problems(settings: Settings) -> list[str]:
    """The IG professional account id every Business Discovery call goes through."""
    own = (settings.instagram_user_id or "").strip()
    if own and OWN_ID.fullmatch(own):
        return []
    if own:
        return [
            f"{OWN_ID_SETTING} is not a numeric id: put the id of your own Instagram "
            "professional account (GET /me/accounts?fields=instagram_business_account)"
        ]
    return [
        f"{OWN_ID_SETTING} is not set: put the id of your own Instagram "
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
    account_id=OWN_ID,
    id_field="business_discovery.id",
    batch_size=BATCH_SIZE,
    policy=META_POLICY,
    read_budget=read_usage,
    build=build,
    emulator="followerledger.emulator.instagram_api",
    credentials=(META_TOKEN,),
    config_problems=config_problems,
    throttled=throttled,
    calls_counted=True,
    planned=one_call_per_account,
)


class InstagramSource(GraphBatchSource):
    """Follower counts of Instagram professional accounts, by username, 50 calls per batch
    POST; a rejected token, missing permission or a wrong own id stops it for the run."""

    spec = PLATFORM
    needed = NEEDED

    def __init__(self, client: ApiClient, own_id: str, credential: str | None = None) -> None:
        super().__init__(client, credential)
        self.own_id = own_id

    def relative_url(self, target: Target) -> str:
        """The Business Discovery call for one target, relative to the Graph version."""
        field = f"business_discovery.username({target.handle}){{{FIELDS}}}"
        return f"{self.own_id}?{urlencode({'fields': field})}"

    def _parse(self, body: Any, target: Target, rows: RowFactory) -> Observation:
        return parse_discovery(body, target, rows)

    def _stops_for(self, error: GraphError) -> str | None:
        if error.code == 803 or (error.code == 100 and error.subcode == 33):
            return (
                f"Instagram cannot read through {self.own_id} ({error.text()}): put the id "
                f"of your own Instagram professional account in {OWN_ID_SETTING} (not a "
                "Facebook id); no more Instagram requests this run"
            )
        return None

    def _entry_failed(
        self, target: Target, entry: Entry, error: GraphError | None, rows: RowFactory
    ) -> Observation:
        if error is not None and error.code == 110:
            return rows.status(target, "not_found", NOT_PROFESSIONAL)
        return super()._entry_failed(target, entry, error, rows)


def parse_discovery(body: Any, target: Target, rows: RowFactory) -> Observation:
    """The row for one 200 answer of a Business Discovery call (any JSON: never raises)."""
    found = body.get("business_discovery") if isinstance(body, dict) else None
    if not isinstance(found, dict):
        if isinstance(body, dict) and "business_discovery" not in body:
            return rows.status(target, "not_found", NOT_PROFESSIONAL)
        return rows.status(target, "error", "the answer's business_discovery is not an object")
    hidden = "followers_count" not in found
    return rows.ok(
        target,
        handle=as_text(found.get("username")),
        account_id=as_text(found.get("id")),
        display_name=as_text(found.get("name")),
        followers=found.get("followers_count"),
        following=found.get("follows_count"),
        posts=found.get("media_count"),
        status="hidden" if hidden else "ok",
        detail=HIDDEN if hidden else None,
        followers_field="business_discovery.followers_count",
        following_field="business_discovery.follows_count",
        posts_field="business_discovery.media_count",
    )
