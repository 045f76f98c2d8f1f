"""Threads Profile Discovery `GET /profile_lookup?username=`: one profile per request.

Contract: ../shared/contracts/meta/threads (profile-discovery.md) and README §5, §8.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from followerledger.sources.base import ApiSource
from followerledger.sources.http import no_budget_headers
from followerledger.sources.platform import Connect, Credential, Platform, RatePolicy
from followerledger.sources.profile_links import profile_handle

if TYPE_CHECKING:
    from followerledger.settings import Settings

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
    assert connect.credential is not None
    token = connect.credential.secret
    session = connect.session({"Authorization": f"Bearer {token}"})
    policy = PLATFORM.rate_policy(budgets=settings.budgets, credential=connect.index)
    client = connect.client(settings.threads_api_url, session, policy, [token])
    return ThreadsSource(client, connect.credential.label)


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
    read_budget=no_budget_headers,
    build=build,
    emulator="followerledger.emulator.threads_api",
    credentials=(TOKEN,),
)


class ThreadsSource(ApiSource):
    """Follower counts of public Threads profiles, by username."""

    spec = PLATFORM
