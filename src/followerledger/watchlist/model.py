"""What a validated watchlist holds, and the problems reported about one."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, cast

from followerledger.observation import Platform
from followerledger.sources import registry

if TYPE_CHECKING:
    from followerledger.watchlist.accounts import AccountColumns, WatchedAccounts

#: The longest line a problem is shown as: a value quoted in it is cut to fit.
MAX_LINE: Final = 300

#: Follower counts worth an alert when an account reaches them.
DEFAULT_MILESTONES: Final = (1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)


@dataclasses.dataclass(frozen=True, slots=True)
class AlertRules:
    """When to send an alert: the watchlist's optional `alerts:` section (docs/operations.md)."""

    milestones: tuple[int, ...] = DEFAULT_MILESTONES
    drop_percent: float | None = 10.0
    stale_hours: float | None = 6.0
    failed_runs: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class WatchedAccount:
    """One account on one platform, by its canonical handle (`read_handle`)."""

    brand: str
    platform: Platform
    handle: str
    #: Where it is written; None when the file was read by the fast (line-less) loader.
    line: int | None

    @property
    def key(self) -> str:
        """The handle normalised for comparison on its platform."""
        return normalize_handle(self.platform, self.handle)


@dataclasses.dataclass(frozen=True, slots=True)
class Watchlist:
    """A validated watchlist. Its `accounts` are held as columns (`accounts.WatchedAccounts`,
    whatever sequence it is given): a `WatchedAccount` is built when one is read."""

    path: Path
    accounts: Sequence[WatchedAccount]
    landscapes: dict[str, tuple[str, ...]]
    alerts: AlertRules = dataclasses.field(default_factory=AlertRules)
    #: Handles written in another accepted form than the canonical one, one line each
    #: (`x handle '@Apple' read as 'Apple'`): worth saying, not wrong.
    notes: tuple[Problem, ...] = ()

    def __post_init__(self) -> None:
        from followerledger.watchlist.accounts import WatchedAccounts  # it builds WatchedAccount

        object.__setattr__(self, "accounts", WatchedAccounts.of(self.accounts))

    @property
    def brands(self) -> tuple[str, ...]:
        """Brand names in file order (those with an account)."""
        return self._columns().brands

    def for_platform(self, platform: str) -> list[WatchedAccount]:
        """The accounts watched on one platform, in file order (only those are built)."""
        return [self.accounts[i] for i in self._held().on_platform(platform)]

    def count(self, platform: str) -> int:
        """How many accounts are watched on one platform, read from the columns (no account
        is built)."""
        return len(self._held().on_platform(platform))

    @property
    def platforms(self) -> tuple[Platform, ...]:
        """Platforms with at least one watched account, in canonical order."""
        columns = self._columns()
        present = {columns.platforms[index] for index in set(columns.platform_of)}
        return tuple(platform for platform in registry.names() if platform in present)

    def _held(self) -> WatchedAccounts:
        return cast("WatchedAccounts", self.accounts)  # held as columns (`__post_init__`)

    def _columns(self) -> AccountColumns:
        return self._held().columns()


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One line about a place in the watchlist: a reason it is invalid, or a note."""

    path: Path
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        text = " ".join(f"{where}: {self.reason}".splitlines())
        return text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…"


class WatchlistError(ValueError):
    """The watchlist cannot be used; `problems` holds one line per reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


def normalize_handle(platform: str, handle: str) -> str:
    """The handle as compared on its platform (case-insensitive, without a leading '@')."""
    # Channel ids and DIDs are case-sensitive identifiers; handles are not (each spec's
    # `exact_prefix`). Keep in step with the `handle_key` macro in sql/macros.sql.
    return registry.platform(platform).normalize(handle)


def iter_rows(watchlist: Watchlist) -> Iterator[tuple[str, str, str]]:
    """(brand, platform, handle) for every watched account, in file order."""
    for account in watchlist.accounts:
        yield account.brand, account.platform, account.handle
