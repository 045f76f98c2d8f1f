"""Threads Profile Discovery `GET /profile_lookup?username=`: one profile per request.

Contract: ../shared/contracts/meta/threads (profile-discovery.md) and README §5, §8.
`GET {threads}/profile_lookup?username=<name>&fields=username,name,follower_count,
is_verified` with a Threads user token (`THREADS_ACCESS_TOKEN`, threads_basic and
threads_profile_discovery) in the Authorization header. `follower_count` is singular here.
1,000 accounts are 1,000 requests; "a user can send a maximum of 1,000 requests within a
rolling 24-hour period", which is this platform's `RatePolicy` (1000 per 86400 s, per
token), so the planner and the shared Prefect budgets pace it like any documented limit.

Choices where the contract is unclear (no error body of profile_lookup is documented):
- 100 and 110 are `not_found`, "unknown or ineligible": Threads looks up only public
  profiles of adults with at least 1,000 followers, and says nothing about which it was.
- 10 and 200-299 stop the platform: with Standard Access only @meta, @threads, @instagram
  and @facebook can be read.
- Identity: the answer has no id, so rows carry no `account_id` and the lake keys the
  account by its lower-cased username (`threads:@name`); a renamed profile is a new
  account until the watchlist says otherwise. A username is not an id, and calling it one
  would join a later, different owner of the name to the old history.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from followerledger.observation import Observation
from followerledger.sources.base import ApiSource, RowFactory, Target, Usage, as_text, read_json
from followerledger.sources.meta_graph import (
    GraphError,
    Stop,
    bearer_client,
    graph_error,
    permission_detail,
    read_usage,
    throttled,
    token_detail,
)
from followerledger.sources.platform import Connect, Credential, Platform, RatePolicy
from followerledger.sources.profile_links import profile_handle

if TYPE_CHECKING:
    from followerledger.settings import Settings
    from followerledger.sources.http import ApiClient

FIELDS: Final = "username,name,follower_count,is_verified"
INELIGIBLE: Final = (
    "unknown or ineligible (Threads looks up only public profiles of adults with at least "
    "1,000 followers)"
)
NEEDED: Final = (
    "standard access reads only @meta, @threads, @instagram, @facebook; other profiles need "
    "Advanced Access for threads_profile_discovery"
)
HOSTS: Final = frozenset(
    f"{prefix}{domain}" for prefix in ("", "www.") for domain in ("threads.net", "threads.com")
)
#: Threads usernames are Instagram usernames.
USERNAME: Final = re.compile(r"^(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9._]{1,30}$")
TOKEN: Final = Credential(
    "threads_access_token",
    "THREADS_ACCESS_TOKEN",
    "followerledger-threads-access-token",
    "put a Threads user access token (threads_basic, threads_profile_discovery)",
    "threads_access_tokens",
    "THREADS_ACCESS_TOKENS",
)


def read_written(written: str) -> str:
    """A username from `name`, `@name` or `https://www.threads.net/@name` (or threads.com)."""
    return profile_handle(written, HOSTS)


def build(settings: Settings, connect: Connect) -> ThreadsSource:
    """The source, sending its credential's token, paced by that token's lookup budget."""
    client, label = bearer_client(PLATFORM, settings, connect, settings.threads_api_url)
    return ThreadsSource(client, label)


#: Threads (../shared/contracts/meta/threads): "a maximum of 1,000 requests within a rolling
#: 24-hour period" per user token for profile lookups. The answer has no id.
PLATFORM: Final = Platform(
    name="threads",
    label="Threads",
    handle_pattern=USERNAME,
    handle_rule="Threads usernames are 1-30 letters, digits, '.' or '_' (no '.' first or last, "
    "no '..'), written as name, @name or https://www.threads.net/@name",
    read_written=read_written,
    account_id=re.compile(r"(?!)"),
    id_field="username",
    batch_size=1,
    policy=RatePolicy("threads", 1000, 24 * 3600),
    read_budget=read_usage,
    build=build,
    emulator="followerledger.emulator.threads_api",
    credentials=(TOKEN,),
    throttled=throttled,
)


class ThreadsSource(ApiSource):
    """Follower counts of public Threads profiles, one lookup per request; a rejected token
    or missing access stops it for the run."""

    spec = PLATFORM

    def __init__(self, client: ApiClient, credential: str | None = None) -> None:
        super().__init__(client, credential)
        self.stop = Stop()

    def usage(self) -> Usage:
        """Requests; each is one of the token's 1,000 lookups a day (the quota units)."""
        return Usage(self.client.requests_made, self.client.requests_made)

    def _fetch(self, batch: Sequence[Target], make: Callable[[], RowFactory]) -> list[Observation]:
        stopped = self.stop.detail
        if stopped is not None:
            rows = make()
            return [rows.status(target, "error", stopped) for target in batch]
        return [self._lookup(target, make) for target in batch]

    def _lookup(self, target: Target, make: Callable[[], RowFactory]) -> Observation:
        params = {"username": target.handle, "fields": FIELDS}
        response = self.client.get("/profile_lookup", params, shape=profile_problem)
        body = read_json(response)
        rows = make()
        if response.status_code == 200:
            return parse_profile(body, target, rows)
        error = graph_error(body)
        stopped = self._stops(error)
        if stopped is not None:
            return rows.status(target, "error", stopped)
        if error is not None and error.code in (100, 110):
            return rows.status(target, "not_found", INELIGIBLE)
        said = error.text() if error is not None else "no Graph error in the body"
        return rows.status(target, "error", f"HTTP {response.status_code}: {said}")

    def _stops(self, error: GraphError | None) -> str | None:
        if error is None:
            return None
        if error.kind == "token":
            return self.stop.stop(token_detail("Threads", error, self.credential or TOKEN.variable))
        if error.kind == "permission":
            return self.stop.stop(permission_detail("Threads", error, NEEDED))
        return None


def profile_problem(body: Any) -> str | None:
    """What keeps a 200 answer of profile_lookup from being read, or None."""
    return None if isinstance(body, dict) else "answer is not a JSON object"


def parse_profile(body: Any, target: Target, rows: RowFactory) -> Observation:
    """The row for one 200 answer of profile_lookup (any JSON: never raises)."""
    if not isinstance(body, dict):
        return rows.status(target, "error", "the answer is not a JSON object")
    handle = as_text(body.get("username"))
    name = as_text(body.get("name"))
    if "follower_count" not in body:
        return rows.ok(
            target,
            handle=handle,
            account_id=None,
            display_name=name,
            followers=None,
            following=None,
            posts=None,
            status="hidden",
            detail="the answer has no follower_count",
        )
    return rows.ok(
        target,
        handle=handle,
        account_id=None,
        display_name=name,
        followers=body.get("follower_count"),
        following=None,
        posts=None,
        followers_field="follower_count",
    )
