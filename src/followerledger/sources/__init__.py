"""Platform sources: each turns one request batch of watched accounts into observation rows.

`build_source` wires a source to its HTTP client from settings; everything external (session,
token, clock, sleep) can be passed in.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Final

import requests

from followerledger.settings import Settings
from followerledger.sources.base import PlatformSource, Target
from followerledger.sources.bluesky import BlueskySource
from followerledger.sources.bluesky import read_budget as bluesky_budget
from followerledger.sources.http import (
    ApiClient,
    BudgetReader,
    Clock,
    Sleep,
    make_session,
    utc_now,
)
from followerledger.sources.x import XSource
from followerledger.sources.x import read_budget as x_budget

SUPPORTED_PLATFORMS: Final = ("x", "bluesky")

__all__ = ["SUPPORTED_PLATFORMS", "PlatformSource", "Target", "build_source", "missing_config"]


class ConfigError(ValueError):
    """A platform cannot be fetched with the current settings; the message says what to set."""


def missing_config(settings: Settings, platforms: Sequence[str]) -> list[str]:
    """One line per setting that the given platforms need and that is not set."""
    problems = []
    for platform in platforms:
        if platform not in SUPPORTED_PLATFORMS:
            problems.append(f"platform {platform!r} is not supported yet")
        elif platform == "x" and settings.x_bearer_token is None:
            problems.append(
                "X_BEARER_TOKEN is not set: put the app's bearer token in the "
                "environment or .env (or skip X with --platform)"
            )
    return problems


def build_source(
    platform: str,
    settings: Settings,
    *,
    session: requests.Session | None = None,
    clock: Clock = utc_now,
    sleep: Sleep = time.sleep,
) -> PlatformSource:
    """A ready source for one platform, with one HTTP session shared by all its batches."""

    def client(
        url: str, budget: BudgetReader, session: requests.Session, secrets: Sequence[str] = ()
    ) -> ApiClient:
        return ApiClient(
            platform,
            url,
            session,
            read_budget=budget,
            timeout=settings.http_timeout,
            attempts=settings.http_attempts,
            max_wait=settings.max_rate_limit_wait,
            secrets=secrets,
            concurrency=settings.fetch_concurrency,
            clock=clock,
            sleep=sleep,
        )

    pool = settings.fetch_concurrency
    if platform == "x":
        if settings.x_bearer_token is None:
            raise ConfigError(missing_config(settings, ["x"])[0])
        token = settings.x_bearer_token.get_secret_value()
        session = session or make_session(pool, {"Authorization": f"Bearer {token}"})
        return XSource(client(settings.x_api_url, x_budget, session, [token]))
    if platform == "bluesky":
        return BlueskySource(
            client(settings.bluesky_api_url, bluesky_budget, session or make_session(pool))
        )
    raise ConfigError(f"platform {platform!r} is not supported yet")
