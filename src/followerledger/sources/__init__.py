"""Platform sources: each turns one request batch of watched accounts into observation rows.

`build_source` wires a source to its HTTP client from settings; everything external (session,
tokens, clock, sleep, the request throttle) can be passed in. What each platform needs comes
from its spec in `sources/registry.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Final

import requests

from followerledger import stopping
from followerledger.errors import ConfigError
from followerledger.sources import registry
from followerledger.sources.base import PlatformSource, Target, Usage
from followerledger.sources.http import ApiClient, Clock, Logger, Sleep, make_session, utc_now
from followerledger.sources.platform import Connect
from followerledger.sources.throttle import RatePolicy, Throttle, process_throttle

if TYPE_CHECKING:
    from pydantic import SecretStr

    from followerledger.settings import Settings

SUPPORTED_PLATFORMS: Final = registry.names()

__all__ = [
    "SUPPORTED_PLATFORMS",
    "ConfigError",
    "PlatformSource",
    "Target",
    "ThrottleFactory",
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
            continue
        spec = registry.platform(platform)
        for credential in spec.credentials:
            if state := _unset(getattr(settings, credential.field)):
                problems.append(
                    f"{credential.variable} is {state}: {credential.hint} in the "
                    "environment or .env, or in the Prefect Secret block "
                    f"{credential.block} (or skip {spec.label} with --platform)"
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
    spec = registry.platform(platform)
    pool = settings.fetch_concurrency

    def pace_here(policy: RatePolicy) -> Throttle:
        return process_throttle(policy, logger)

    def session_for(headers: Mapping[str, str] | None) -> requests.Session:
        return session or make_session(pool, headers)

    def client(
        url: str, session: requests.Session, policy: RatePolicy, secrets: Sequence[str]
    ) -> ApiClient:
        return ApiClient(
            spec.name,
            url,
            session,
            read_budget=spec.read_budget,
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

    return spec.build(settings, Connect(session_for, client))


def planned_requests(
    platform: str, batches: Sequence[Sequence[Target]], settings: Settings
) -> dict[RatePolicy, int]:
    """The requests a run's batches will send, per rate budget (Mastodon: per instance, plus
    the version check of each instance read by id)."""
    spec = registry.platform(platform)
    return spec.planned(spec, batches, settings.budgets)
