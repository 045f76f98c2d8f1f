"""Handles as people write them: every form a person would paste, read as the canonical one.

A handle arrives typed (`@Apple`) as often as pasted from a browser (`https://x.com/Apple`,
`bsky.app/profile/dell.com`). `read_handle` turns each accepted form into the form the
platform's API takes (the canonical handle: `Apple`, `dell.com`, `user@instance`, `@Apple` or
`UC…`), or refuses it with the platform's rule. The watchlist and the CSV import both read
handles through it, so a handle means the same account wherever it is written. Each
platform's forms and rule are its spec's (`sources/registry.py`).
"""

from __future__ import annotations

from typing import Final

from followerledger.sources import registry
from followerledger.sources.profile_links import NotAProfile

__all__ = [
    "MAX_HANDLE_CHARS",
    "SHOWN_CHARS",
    "HandleError",
    "read_handle",
    "shown",
]

#: The longest written handle read: longer than any handle or profile link (a domain name is
#: at most 253 characters), short enough to quote in an error.
MAX_HANDLE_CHARS: Final = 300
#: How much of a refused value an error quotes.
SHOWN_CHARS: Final = 60


def shown(value: object) -> str:
    """`repr(value)` cut to SHOWN_CHARS, for quoting a value someone wrote in an error."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 2] + "…" + text[-1]


class HandleError(ValueError):
    """A handle no accepted form of its platform matches; the message says which forms are."""

    def __init__(self, platform: str, written: str, reason: str | None = None) -> None:
        rule = reason or registry.platform(platform).handle_rule
        super().__init__(f"invalid {platform} handle {shown(written)}: {rule}")


def read_handle(platform: str, written: str) -> str:
    """The canonical handle `written` names on `platform`, or HandleError.

    Accepted: the canonical form itself, a leading '@' (X, Bluesky, Mastodon, Twitch), a
    YouTube handle without its '@', and profile links with or without scheme, query or
    trailing slash."""
    text = written.strip()
    if len(text) > MAX_HANDLE_CHARS:
        raise HandleError(
            platform,
            written,
            f"{len(text):,} characters, more than any handle or profile link "
            f"({MAX_HANDLE_CHARS} at most)",
        )
    spec = registry.platform(platform)
    try:
        canonical = spec.read_written(text)
    except NotAProfile:
        raise HandleError(platform, written) from None
    if not spec.handle_pattern.match(canonical):
        raise HandleError(platform, written)
    return canonical
