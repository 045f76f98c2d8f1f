"""Platform sources: each turns one request batch of watched accounts into observation rows.

`build_source` wires a source to its HTTP client from settings; everything external (session,
tokens, clock, sleep, the request throttle) can be passed in. What each platform needs comes
from its spec in `sources/registry.py`. A platform may have several credentials
(`credential_count`): each source sends one, and spends that credential's rate budget.
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
from followerledger.sources.platform import Connect, CredentialInUse
from followerledger.sources.throttle import RatePolicy, Throttle, process_throttle

if TYPE_CHECKING:
    from pydantic import SecretStr

    from followerledger.settings import CredentialValue, Settings

SUPPORTED_PLATFORMS: Final = registry.names()

__all__ = [
    "SUPPORTED_PLATFORMS",
    "ConfigError",
    "PlatformSource",
    "Target",
    "ThrottleFactory",
    "Usage",
    "build_source",
    "credential_count",
    "credential_labels",
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
            if not credential.required or settings.credentials(credential):
                continue
            state = _unset(getattr(settings, credential.field))
            several = f" (several: {credential.plural_variable})" if credential.several else ""
            problems.append(
                f"{credential.variable} is {state or 'empty'}: {credential.hint} in the "
                f"environment or .env{several}, or in the "
                f"Prefect Secret block {credential.block} (or skip {spec.label} with --platform)"
            )
        problems.extend(spec.config_problems(settings))
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


def _sent(settings: Settings, platform: str) -> list[CredentialValue] | None:
    """The values of the credential the platform's sources send, one source each: its
    first credential that is configured (Twitch: an access token, else a client secret),
    else its first; None for a platform that takes none."""
    spec = registry.platform(platform)
    if not spec.credentials:
        return None
    for credential in spec.credentials:
        values = settings.credentials(credential)
        if values:
            return values
    return []


def credential_count(settings: Settings, platform: str) -> int:
    """How many credentials the platform has configured (at least 1: a platform that takes
    none, or lacks its credential, counts as one)."""
    return max(1, len(_sent(settings, platform) or ()))


def credential_labels(settings: Settings, platform: str) -> list[str | None]:
    """Each credential's label, by index (`[None]` for a platform that takes none)."""
    return [value.label for value in _sent(settings, platform) or ()] or [None]


def _credential(settings: Settings, platform: str, index: int) -> CredentialInUse | None:
    """The platform's credential number `index` (None for a platform that takes none)."""
    spec = registry.platform(platform)
    values = _sent(settings, platform)
    if values is None:
        return None
    if not 0 <= index < len(values):
        raise ValueError(
            f"{spec.label} has {len(values)} credential(s): there is no credential {index}"
        )
    chosen = values[index]
    return CredentialInUse(index, chosen.label, chosen.secret.get_secret_value())


def _all_secrets(settings: Settings, platform: str) -> list[str]:
    """Every configured value of every credential of the platform, to redact."""
    spec = registry.platform(platform)
    return [
        value.secret.get_secret_value()
        for credential in spec.credentials
        for value in settings.credentials(credential)
    ]


def build_source(
    platform: str,
    settings: Settings,
    *,
    credential: int = 0,
    session: requests.Session | None = None,
    clock: Clock = utc_now,
    sleep: Sleep = stopping.sleep,
    throttle_for: ThrottleFactory | None = None,
    logger: Logger | None = None,
) -> PlatformSource:
    """A ready source for one platform, sending its credential number `credential` (see
    `credential_count`) and paced by that credential's rate budget, with one HTTP session
    shared by all its batches; its rate-limit waits are logged on `logger` (default: the
    `followerledger.sources.http` logger). Without `throttle_for`, requests are paced by
    this process's token buckets. Its client redacts every credential of the platform, not
    only its own. The settings the platform needs are checked once, before, by
    `require_config`."""
    spec = registry.platform(platform)
    pool = settings.fetch_concurrency
    chosen = _credential(settings, platform, credential)
    everyone = _all_secrets(settings, platform)

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
            throttled=spec.throttled,
            timeout=settings.http_timeout,
            attempts=settings.http_attempts,
            max_wait=settings.max_rate_limit_wait,
            secrets=[*secrets, *everyone],
            concurrency=settings.fetch_concurrency,
            throttle=(throttle_for or pace_here)(policy),
            clock=clock,
            sleep=sleep,
            logger=logger,
        )

    return spec.build(settings, Connect(session_for, client, chosen))


def planned_requests(
    platform: str,
    batches: Sequence[Sequence[Target]],
    settings: Settings,
    credential: int = 0,
) -> dict[RatePolicy, int]:
    """The requests a run's batches will send, per rate budget: the budget of the
    credential that sends them (Mastodon: per instance, plus the version check of each
    instance read by id)."""
    spec = registry.platform(platform)
    return spec.planned(spec, batches, settings.budgets, credential)
