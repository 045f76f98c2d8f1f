"""A platform's spec: every fact the package knows about one platform, declared once.

Each source module declares its `PLATFORM = Platform(...)` beside the request shape and the
parser; `sources/registry.py` lists the specs, and the CLI, settings, watchlist, throttles,
secret blocks and the emulator read them from there.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from followerledger.sources.http import ApiClient, BudgetReader, ThrottleCheck, never_throttled

if TYPE_CHECKING:
    import requests

    from followerledger.settings import Settings
    from followerledger.sources.base import PlatformSource, Target

Budgets = Mapping[str, tuple[int, float]]


@dataclasses.dataclass(frozen=True, slots=True)
class RatePolicy:
    """A documented request budget: `limit` requests per `per_seconds`."""

    name: str
    limit: int
    per_seconds: float

    @property
    def per_second(self) -> float:
        """The sustained rate the budget allows."""
        return self.limit / self.per_seconds


@dataclasses.dataclass(frozen=True, slots=True)
class Credential:
    """A secret a platform needs: its `Settings` field, its variable, its Prefect Secret
    block, and what to put there (`hint`, the start of the missing-config line); and the
    plural variable (`plural_field`, `plural_variable`) holding further ones, each with a
    rate budget of its own (None: one value only, as a Twitch client secret).

    `required=False`: not needed on its own; the platform's `config_problems` says which
    of its credentials will do (Twitch: a client secret or an access token)."""

    field: str
    variable: str
    block: str
    hint: str
    plural_field: str | None = None
    plural_variable: str | None = None
    required: bool = True

    @property
    def several(self) -> bool:
        """Whether the credential may have further values (a plural variable, more blocks)."""
        return self.plural_field is not None

    def block_name(self, index: int) -> str:
        """The Secret block of the credential at `index` (0: `block`, then `block-2`, ...)."""
        return self.block if index == 0 else f"{self.block}-{index + 1}"


@dataclasses.dataclass(frozen=True, slots=True)
class CredentialInUse:
    """The credential a source sends: its index among the platform's (its rate budget's
    suffix), its label (a variable, `X_BEARER_TOKENS[2]`, or a block's name; never the
    value), and the secret itself, which no repr shows."""

    index: int
    label: str
    secret: str = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Connect:
    """What `Platform.build` wires a source with besides the settings.

    `session(headers)` is the session passed in, else a new pooled one with those headers;
    `client(url, session, policy, secrets)` an API client of this platform, paced by `policy`
    and redacting `secrets` (and every credential of the platform besides); `credential` the
    one credential this source sends (None for a platform without one).
    """

    session: Callable[[Mapping[str, str] | None], requests.Session]
    client: Callable[[str, requests.Session, RatePolicy, Sequence[str]], ApiClient]
    credential: CredentialInUse | None = None

    @property
    def index(self) -> int:
        """The credential's index (0 without one): which rate budget the source spends."""
        return 0 if self.credential is None else self.credential.index


Builder = Callable[["Settings", Connect], "PlatformSource"]
Planner = Callable[["Platform", Sequence[Sequence["Target"]], Budgets, int], dict[RatePolicy, int]]


ConfigCheck = Callable[["Settings"], list[str]]


def no_other_settings(settings: Settings) -> list[str]:
    """For a platform that needs nothing besides its `credentials`."""
    return []


def one_call_per_account(
    spec: Platform, batches: Sequence[Sequence[Target]], budgets: Budgets, credential: int = 0
) -> dict[RatePolicy, int]:
    """The planned budget of a platform whose budget counts calls, one per account however
    many ride in one request (Meta's Graph batch)."""
    policy = spec.rate_policy(budgets=budgets, credential=credential)
    return {policy: sum(len(batch) for batch in batches)}


def one_request_per_batch(
    spec: Platform, batches: Sequence[Sequence[Target]], budgets: Budgets, credential: int = 0
) -> dict[RatePolicy, int]:
    """The planned requests of a platform that sends one request per batch to one budget
    (the credential's)."""
    return {spec.rate_policy(budgets=budgets, credential=credential): len(batches)}


@dataclasses.dataclass(frozen=True, slots=True)
class Platform:
    """One platform, as the package knows it (see ../shared/contracts for each figure).

    `read_written` turns a written form of a handle (`@Apple`, a profile link) into the
    canonical handle, still to be matched against `handle_pattern`; it raises
    `profile_links.NotAProfile` for a link that names no account. Handles starting with
    `exact_prefix` (channel ids, DIDs) are identifiers compared case-sensitively.
    `throttled` tells the platform's throttle answers that are not 429s (Meta's codes).
    `calls_counted`: the budget counts each account's call, not each request (a Graph batch
    of 50 calls spends 50 of it), so a unit of `policy` reads one account.
    """

    name: str
    label: str
    handle_pattern: re.Pattern[str]
    handle_rule: str
    read_written: Callable[[str], str]
    account_id: re.Pattern[str]
    id_field: str
    batch_size: int
    policy: RatePolicy
    read_budget: BudgetReader
    build: Builder
    emulator: str
    credentials: tuple[Credential, ...] = ()
    exact_prefix: str | None = None
    planned: Planner = one_request_per_batch
    config_problems: ConfigCheck = no_other_settings
    throttled: ThrottleCheck = never_throttled
    calls_counted: bool = False

    def rate_policy(
        self, instance: str | None = None, budgets: Budgets | None = None, credential: int = 0
    ) -> RatePolicy:
        """The budget (a configured one, else the documented one), per instance if given;
        each credential after the first has one of its own (`x-2`, `x-3`, ...), since the
        platforms limit requests per app or key."""
        base = self.policy
        if budgets and self.name in budgets:
            limit, seconds = budgets[self.name]
            # The documented policy's name stays: a budget shared by platforms (`meta`)
            # stays shared.
            base = RatePolicy(base.name, limit, seconds)
        if credential:
            base = dataclasses.replace(base, name=f"{base.name}-{credential + 1}")
        if instance is None:
            return base
        suffix = re.sub(r"[^a-z0-9]+", "-", instance.lower()).strip("-")
        return dataclasses.replace(base, name=f"{base.name}-{suffix}")

    @property
    def accounts_per_unit(self) -> int:
        """Accounts one unit of the rate budget reads: a batch, or one account when the
        budget counts calls (`calls_counted`)."""
        return 1 if self.calls_counted else self.batch_size

    @property
    def budget_unit(self) -> str:
        """What the budget counts, as the docs say it: `requests` or `calls`."""
        return "calls" if self.calls_counted else "requests"

    def normalize(self, handle: str) -> str:
        """The handle as compared on this platform (case-insensitive, without a leading '@')."""
        if self.exact_prefix is not None and handle.startswith(self.exact_prefix):
            return handle
        return handle.lstrip("@").lower()
