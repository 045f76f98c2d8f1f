"""Bluesky public AppView: `app.bsky.actor.getProfiles`, up to 25 actors per request, no auth.

Contract: ../shared/contracts/bluesky (lexicons getProfiles/getProfile/defs, XRPC spec).
Accounts absent from a getProfiles answer are asked for once more with getProfile, whose
400 error name tells not found (`InvalidRequest`) from taken down and deactivated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from followerledger.observation import Observation, Status
from followerledger.sources.base import (
    ApiSource,
    MalformedAnswer,
    RowFactory,
    Target,
    as_text,
    read_json,
)
from followerledger.sources.http import RateLimited, RequestFailed, rate_limit_headers
from followerledger.sources.platform import Connect, Platform, RatePolicy
from followerledger.sources.profile_links import DOMAIN, profile_handle

if TYPE_CHECKING:
    from followerledger.settings import Settings

BATCH_SIZE: Final = 25
HOSTS: Final = frozenset({"bsky.app", "www.bsky.app"})

read_budget = rate_limit_headers("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")


def read_written(written: str) -> str:
    """A handle or DID from `@dell.com` or `https://bsky.app/profile/dell.com`."""
    return profile_handle(written, HOSTS, "profile")


def build(settings: Settings, connect: Connect) -> BlueskySource:
    """The source; the public AppView takes no credentials."""
    policy = PLATFORM.rate_policy(budgets=settings.budgets)
    return BlueskySource(
        connect.client(settings.bluesky_api_url, connect.session(None), policy, ())
    )


#: getProfile's 400 error names and what they mean for the account.
_ERROR_STATUS: Final[dict[str, Status]] = {
    "InvalidRequest": "not_found",
    "AccountTakedown": "suspended",
    "AccountDeactivated": "deactivated",
}


def actor(target: Target) -> str:
    """The at-identifier to ask for: the DID once known, else the handle without '@'."""
    return target.account_id or target.handle.lstrip("@")


#: The Bluesky AppView (../shared/contracts/bluesky): ids are DIDs of the two methods the
#: network uses. The AppView publishes no rate limit; the PDS figure (3,000 per 5 minutes)
#: serves as a polite ceiling.
PLATFORM: Final = Platform(
    name="bluesky",
    label="Bluesky",
    handle_pattern=re.compile(rf"^(?:{DOMAIN}|did:[a-z]+:[A-Za-z0-9._:%-]*[A-Za-z0-9._-])$"),
    handle_rule="Bluesky handles are domain names such as dell.com, or DIDs such as did:plc:…, "
    "written bare, with '@' or as https://bsky.app/profile/…",
    read_written=read_written,
    account_id=re.compile(r"did:(?:plc:[a-z0-9]{1,64}|web:[A-Za-z0-9.:%-]{1,253})"),
    id_field="did",
    batch_size=BATCH_SIZE,
    policy=RatePolicy("bluesky", 3000, 5 * 60),
    read_budget=read_budget,
    build=build,
    emulator="followerledger.emulator.bluesky_api",
    exact_prefix="did:",
)


class BlueskySource(ApiSource):
    """Follower counts from the Bluesky AppView: one getProfiles request per batch (handles
    and DIDs mix freely, 25 per request), plus one getProfile per omitted account."""

    spec = PLATFORM

    def _fetch(self, batch: Sequence[Target], make: Callable[[], RowFactory]) -> list[Observation]:
        response = self.client.get(
            "/xrpc/app.bsky.actor.getProfiles",
            {"actors": [actor(t) for t in batch]},
            shape=profiles_problem,
        )
        body = read_json(response)
        rows = make()
        if response.status_code != 200:
            detail = xrpc_error_text(body, response.status_code)
            return [rows.status(target, "error", detail) for target in batch]
        found, missing = parse_profiles(body, batch, rows)
        for target in missing:
            found.append(self._classify_missing(target, make))
        return found

    def _classify_missing(self, target: Target, make: Callable[[], RowFactory]) -> Observation:
        try:
            response = self.client.get(
                "/xrpc/app.bsky.actor.getProfile", {"actor": actor(target)}, shape=profile_problem
            )
        except (RequestFailed, RateLimited) as error:
            # This account's own request failed: the batch's other rows stand.
            return make().status(target, "error", str(error))
        try:
            body = read_json(response)
        except MalformedAnswer:
            body = None
        rows = make()
        if response.status_code == 200 and isinstance(body, dict):
            return profile_row(body, target, rows)
        if response.status_code == 400 and isinstance(body, dict):
            status = _ERROR_STATUS.get(str(body.get("error")))
            if status is not None:
                return rows.status(target, status, as_text(body.get("message")))
        return rows.status(
            target,
            "not_found",
            "omitted from getProfiles; " + xrpc_error_text(body, response.status_code),
        )


def xrpc_error_text(body: Any, status_code: int) -> str:
    """A one-line description of an XRPC error answer."""
    parts = [f"HTTP {status_code}"]
    if isinstance(body, dict):
        for key in ("error", "message"):
            if isinstance(body.get(key), str):
                parts.append(body[key])
    return ": ".join(parts)


def profiles_problem(body: Any) -> str | None:
    """What keeps a 200 getProfiles answer from being read, or None."""
    if not isinstance(body, dict) or not isinstance(body.get("profiles"), list):
        return "answer lacks the required 'profiles' list"
    return None


def profile_problem(body: Any) -> str | None:
    """What keeps a 200 getProfile answer from being read, or None."""
    return None if isinstance(body, dict) else "answer is not a JSON object"


def parse_profiles(
    body: Any, batch: Sequence[Target], rows: RowFactory
) -> tuple[list[Observation], list[Target]]:
    """Rows for the profiles found, and the targets the answer left out."""
    problem = profiles_problem(body)
    if problem is not None:
        raise MalformedAnswer(problem)
    profiles: dict[str, dict[str, Any]] = {}
    for profile in body["profiles"]:
        if not isinstance(profile, dict):
            continue
        for key in (profile.get("did"), profile.get("handle")):
            if isinstance(key, str):
                profiles.setdefault(key.lower(), profile)
    found: list[Observation] = []
    missing: list[Target] = []
    for target in batch:
        profile = profiles.get(actor(target).lower())
        if profile is None and target.account_id:
            profile = profiles.get(target.handle.lstrip("@").lower())
        if profile is None:
            missing.append(target)
        else:
            found.append(profile_row(profile, target, rows))
    return found, missing


def profile_row(profile: dict[str, Any], target: Target, rows: RowFactory) -> Observation:
    """The row for one profileViewDetailed."""
    handle = as_text(profile.get("handle"))
    did = as_text(profile.get("did"))
    return rows.ok(
        target,
        handle=handle,
        account_id=did,
        display_name=as_text(profile.get("displayName")),
        followers=profile.get("followersCount"),
        following=profile.get("followsCount"),
        posts=profile.get("postsCount"),
        followers_field="followersCount",
        following_field="followsCount",
        posts_field="postsCount",
    )
