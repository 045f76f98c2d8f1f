"""Platform sources: each turns one request batch of watched accounts into observation rows.

`build_source` wires a source to its HTTP client from settings; everything external (session,
tokens, clock, sleep, the request throttle) can be passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final

import requests
from pydantic import SecretStr

from followerledger import stopping
from followerledger.errors import ConfigError
from followerledger.secret_blocks import block_name
from followerledger.settings import Settings
from followerledger.sources.base import PlatformSource, Target, Usage
from followerledger.sources.bluesky import BlueskySource
from followerledger.sources.bluesky import read_budget as bluesky_budget
from followerledger.sources.http import (
    ApiClient,
    BudgetReader,
    Clock,
    Logger,
    Sleep,
    make_session,
    no_budget_headers,
    utc_now,
)
from followerledger.sources.mastodon import MastodonSource, split_handle
from followerledger.sources.mastodon import read_budget as mastodon_budget
from followerledger.sources.throttle import RatePolicy, Throttle, policy_for, process_throttle
from followerledger.sources.x import XSource
from followerledger.sources.x import read_budget as x_budget
from followerledger.sources.youtube import YouTubeSource

SUPPORTED_PLATFORMS: Final = ("x", "bluesky", "mastodon", "youtube")

__all__ = [
    "SUPPORTED_PLATFORMS",
    "ConfigError",
    "PlatformSource",
    "Target",
    "Usage",
    "build_source",
    "missing_config",
    "planned_requests",
    "require_config",
]

ThrottleFactory = Callable[[RatePolicy], Throttle]


def missing_config(settings: Settings, platforms: Sequence[str]) -> list[str]:
    """One line per setting that the given platforms need and that is not set, or is set
    to nothing but blanks."""
    problems = []
    for platform in platforms:
        if platform not in SUPPORTED_PLATFORMS:
            problems.append(f"platform {platform!r} is not supported")
        elif platform == "x" and (state := _unset(settings.x_bearer_token)):
            problems.append(
                f"X_BEARER_TOKEN is {state}: put the app's bearer token in the "
                "environment or .env, or in the Prefect Secret block "
                f"{block_name('X_BEARER_TOKEN')} (or skip X with --platform)"
            )
        elif platform == "youtube" and (state := _unset(settings.youtube_api_key)):
            problems.append(
                f"YOUTUBE_API_KEY is {state}: put a YouTube Data API v3 key in the "
                "environment or .env, or in the Prefect Secret block "
                f"{block_name('YOUTUBE_API_KEY')} (or skip YouTube with --platform)"
            )
    return problems


def require_config(settings: Settings, platforms: Sequence[str]) -> None:
    """ConfigError naming every setting the platforms need and lack (see `missing_config`)."""
    problems = missing_config(settings, platforms)
    if problems:
        raise ConfigError("; ".join(problems))


def _unset(secret: SecretStr | None) -> str | None:
    """Why a credential cannot be used ('not set', 'empty'), or None when it can."""
    if secret is None:
        return "not set"
    return None if secret.get_secret_value().strip() else "empty"


def build_source(
    platform: str,
    settings: Settings,
    *,
    session: requests.Session | None = None,
    clock: Clock = utc_now,
    sleep: Sleep = stopping.sleep,
    throttle_for: ThrottleFactory | None = None,
    logger: Logger | None = None,
) -> PlatformSource:
    """A ready source for one platform, with one HTTP session shared by all its batches;
    its rate-limit waits are logged on `logger` (default: the `followerledger.sources.http`
    logger). Without `throttle_for`, requests are paced by this process's token buckets.
    The settings the platform needs are checked once, before, by `require_config`."""
    pool = settings.fetch_concurrency

    def pace_here(policy: RatePolicy) -> Throttle:
        return process_throttle(policy, logger)

    def client(
        name: str,
        url: str,
        budget: BudgetReader,
        session: requests.Session,
        policy: RatePolicy,
        secrets: Sequence[str] = (),
    ) -> ApiClient:
        return ApiClient(
            name,
            url,
            session,
            read_budget=budget,
            timeout=settings.http_timeout,
            attempts=settings.http_attempts,
            max_wait=settings.max_rate_limit_wait,
            secrets=secrets,
            concurrency=settings.fetch_concurrency,
            throttle=(throttle_for or pace_here)(policy),
            clock=clock,
            sleep=sleep,
            logger=logger,
        )

    if platform == "x":
        assert settings.x_bearer_token is not None
        token = settings.x_bearer_token.get_secret_value()
        session = session or make_session(pool, {"Authorization": f"Bearer {token}"})
        return XSource(
            client(
                "x",
                settings.x_api_url,
                x_budget,
                session,
                policy_for("x", budgets=settings.budgets),
                [token],
            )
        )
    if platform == "bluesky":
        return BlueskySource(
            client(
                "bluesky",
                settings.bluesky_api_url,
                bluesky_budget,
                session or make_session(pool),
                policy_for("bluesky", budgets=settings.budgets),
            )
        )
    if platform == "youtube":
        assert settings.youtube_api_key is not None
        key = settings.youtube_api_key.get_secret_value()
        return YouTubeSource(
            client(
                "youtube",
                settings.youtube_api_url,
                no_budget_headers,
                session or make_session(pool),
                policy_for("youtube", budgets=settings.budgets),
                [key],
            ),
            key,
        )
    shared = session or make_session(pool)
    override = settings.mastodon_api_url

    def instance_client(instance: str) -> ApiClient:
        url = override or f"https://{instance}"
        return client(
            "mastodon",
            url,
            mastodon_budget,
            shared,
            policy_for("mastodon", instance, settings.budgets),
        )

    return MastodonSource(instance_client)


def planned_requests(
    platform: str, batches: Sequence[Sequence[Target]], settings: Settings
) -> dict[RatePolicy, int]:
    """The requests a run's batches will send, per rate budget (Mastodon: per instance, plus
    the version check of each instance read by id)."""
    if platform != "mastodon":
        return {policy_for(platform, budgets=settings.budgets): len(batches)}
    planned: dict[RatePolicy, int] = {}
    checked: set[str] = set()
    for batch in batches:
        instance = split_handle(batch[0].handle)[1]
        policy = policy_for("mastodon", instance, settings.budgets)
        planned[policy] = planned.get(policy, 0) + 1
        if batch[0].account_id and instance not in checked:
            checked.add(instance)
            planned[policy] += 1
    return planned
