"""The platforms followerledger reads: one line per platform, each spec declared beside its
source. Everything that depends on the list of platforms reads it here."""

from __future__ import annotations

from typing import Final

from followerledger.sources.bluesky import PLATFORM as BLUESKY
from followerledger.sources.facebook import PLATFORM as FACEBOOK
from followerledger.sources.instagram import PLATFORM as INSTAGRAM
from followerledger.sources.mastodon import PLATFORM as MASTODON
from followerledger.sources.meta_graph import GRAPH_API_URL, THREADS_API_URL
from followerledger.sources.platform import Platform
from followerledger.sources.threads import PLATFORM as THREADS
from followerledger.sources.twitch import PLATFORM as TWITCH
from followerledger.sources.x import PLATFORM as X
from followerledger.sources.youtube import PLATFORM as YOUTUBE

__all__ = ["GRAPH_API_URL", "SPECS", "THREADS_API_URL", "Platform", "names", "platform"]

# GRAPH_API_URL and THREADS_API_URL are the settings' defaults, re-exported for them: the
# Graph version is pinned once, beside the Meta sources (`sources/meta_graph.py`).

#: In the order commands list and report them.
SPECS: Final[tuple[Platform, ...]] = (
    X,
    BLUESKY,
    MASTODON,
    YOUTUBE,
    INSTAGRAM,
    FACEBOOK,
    THREADS,
    TWITCH,
)

_BY_NAME: Final = {spec.name: spec for spec in SPECS}
_NAMES: Final = tuple(_BY_NAME)


def names() -> tuple[str, ...]:
    """Every platform's name, in registry order (built once: validation asks per entry)."""
    return _NAMES


def platform(name: str) -> Platform:
    """The spec of the platform called `name`; KeyError for a name not in the registry."""
    return _BY_NAME[name]
