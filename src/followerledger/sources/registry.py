"""The platforms followerledger reads: one line per platform, each spec declared beside its
source. Everything that depends on the list of platforms reads it here."""

from __future__ import annotations

from typing import Final

from followerledger.sources.bluesky import PLATFORM as BLUESKY
from followerledger.sources.mastodon import PLATFORM as MASTODON
from followerledger.sources.platform import Platform
from followerledger.sources.twitch import PLATFORM as TWITCH
from followerledger.sources.x import PLATFORM as X
from followerledger.sources.youtube import PLATFORM as YOUTUBE

__all__ = ["SPECS", "Platform", "names", "platform"]

#: In the order commands list and report them.
SPECS: Final[tuple[Platform, ...]] = (X, BLUESKY, MASTODON, YOUTUBE, TWITCH)

_BY_NAME: Final = {spec.name: spec for spec in SPECS}
_NAMES: Final = tuple(_BY_NAME)


def names() -> tuple[str, ...]:
    """Every platform's name, in registry order (built once: validation asks per entry)."""
    return _NAMES


def platform(name: str) -> Platform:
    """The spec of the platform called `name`; KeyError for a name not in the registry."""
    return _BY_NAME[name]
