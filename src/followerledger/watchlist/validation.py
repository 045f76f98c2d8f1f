"""A parsed watchlist document checked entry by entry: its sections, each brand's accounts
(handles read by the platform's rules, `read_handle`), its landscapes and alert rules."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Final, Protocol

from followerledger.handles import HandleError, read_handle, shown
from followerledger.observation import Platform, has_lone_surrogate
from followerledger.sources import registry
from followerledger.watchlist.alert_rules import parse_alerts
from followerledger.watchlist.lines import line_of
from followerledger.watchlist.model import Problem, WatchedAccount, Watchlist, WatchlistError

_TOP_LEVEL_KEYS: Final = ("brands", "landscapes", "alerts")


@dataclasses.dataclass(slots=True)
class _Findings:
    """What validating one document found so far: accounts, problems and notes."""

    path: Path
    problems: list[Problem] = dataclasses.field(default_factory=list)
    notes: list[Problem] = dataclasses.field(default_factory=list)
    accounts: list[WatchedAccount] = dataclasses.field(default_factory=list)
    #: The first account of each (platform, handle key), to name it when listed again.
    seen: dict[tuple[str, str], WatchedAccount] = dataclasses.field(default_factory=dict)

    def problem(self, line: int | None, reason: str) -> None:
        """Record a reason the watchlist is invalid."""
        self.problems.append(Problem(self.path, line, reason))


def validate(document: Any, path: Path) -> Watchlist:
    """The watchlist a parsed document describes, or WatchlistError with every problem (with
    line numbers when the document is a round-trip one)."""
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise WatchlistError(
            [Problem(path, 1, "expected a mapping with 'brands:' (and optionally 'landscapes:')")]
        )
    found = _Findings(path)
    for key in document:
        if key not in _TOP_LEVEL_KEYS:
            found.problem(
                line_of(document, key=key),
                f"unknown section {shown(key)}: expected 'brands', 'landscapes' or 'alerts'",
            )
    brands = document.get("brands")
    if brands is None:
        brands = {}
    if not isinstance(brands, dict):
        found.problem(line_of(document, key="brands"), "'brands' must map brand names to platforms")
        brands = {}
    for brand, platforms in brands.items():
        _read_brand(brands, brand, platforms, found)
    landscapes = read_landscapes(document, brands, found)
    alerts = parse_alerts(document, path, found.problems)
    if found.problems:
        raise WatchlistError(found.problems)
    return Watchlist(path, tuple(found.accounts), landscapes, alerts, tuple(found.notes))


def _read_brand(brands: Any, brand: Any, platforms: Any, found: _Findings) -> None:
    """One brand's platforms and their handles."""
    brand_line = line_of(brands, key=brand)
    if not isinstance(brand, str) or not brand.strip() or has_lone_surrogate(brand):
        found.problem(brand_line, f"brand name {shown(brand)} must be text")
        return
    if platforms is None:
        found.problem(brand_line, f"brand {shown(brand)} lists no accounts")
        return
    if not isinstance(platforms, dict):
        found.problem(
            brand_line,
            f"brand {shown(brand)} must map platforms ({', '.join(registry.names())}) to handles",
        )
        return
    for platform, handles in platforms.items():
        platform_line = line_of(platforms, key=platform)
        if platform not in registry.names():
            found.problem(
                platform_line,
                f"unknown platform {shown(platform)} under brand {shown(brand)}: "
                f"use one of {', '.join(registry.names())}",
            )
            continue
        if isinstance(handles, str):
            handles = [handles]
        if not isinstance(handles, list):
            found.problem(platform_line, f"{platform} handles of {shown(brand)} must be a list")
            continue
        for index, handle in enumerate(handles):
            line = line_of(handles, index=index) or platform_line
            _read_account(brand, platform, handle, line, found)


def _read_account(
    brand: str, platform: Platform, handle: Any, line: int | None, found: _Findings
) -> None:
    """One handle as written: read by its platform's rule, and listed once."""
    if not isinstance(handle, str):
        found.problem(line, f"{platform} handle {shown(handle)} must be text: put it in quotes")
        return
    try:
        canonical = read_handle(platform, handle)
    except HandleError as error:
        found.problem(line, str(error))
        return
    if canonical != handle:
        found.notes.append(
            Problem(found.path, line, f"{platform} handle {handle!r} read as {canonical!r}")
        )
    account = WatchedAccount(str(brand), platform, canonical, line)
    first = found.seen.get((platform, account.key))
    if first is not None:
        found.problem(
            line,
            f"{platform} handle {handle!r} is listed twice "
            f"(first under {first.brand!r} on line {first.line}); remove one",
        )
        return
    found.seen[(platform, account.key)] = account
    found.accounts.append(account)


class Findings(Protocol):
    """Where problems are recorded (`_Findings`, and the streaming reading's)."""

    def problem(self, line: int | None, reason: str) -> None:
        """Record a reason the watchlist is invalid."""


def read_landscapes(document: Any, brands: Any, found: Findings) -> dict[str, tuple[str, ...]]:
    """The `landscapes:` section: names mapped to brands listed under `brands`."""
    landscapes: dict[str, tuple[str, ...]] = {}
    raw_landscapes = document.get("landscapes")
    if raw_landscapes is not None and not isinstance(raw_landscapes, dict):
        found.problem(
            line_of(document, key="landscapes"),
            "'landscapes' must map landscape names to lists of brands",
        )
        raw_landscapes = None
    for name, members in (raw_landscapes or {}).items():
        name_line = line_of(raw_landscapes, key=name)
        if not isinstance(name, str) or has_lone_surrogate(name):
            found.problem(name_line, f"landscape name {shown(name)} must be text")
            continue
        if not isinstance(members, list) or not members:
            found.problem(name_line, f"landscape {shown(name)} must list at least one brand")
            continue
        for index, member in enumerate(members):
            member_line = line_of(members, index=index) or name_line
            if not isinstance(member, str):
                found.problem(
                    member_line,
                    f"landscape {shown(name)} member {shown(member)} must be a brand name",
                )
            elif member not in brands:
                found.problem(
                    member_line,
                    f"landscape {shown(name)} names unknown brand {shown(member)}: "
                    "add it under 'brands' or fix the spelling",
                )
        landscapes[name] = tuple(str(member) for member in members)
    return landscapes
