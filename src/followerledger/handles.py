"""Handles as people write them: every form a person would paste, read as the canonical one.

A handle arrives typed (`@Apple`) as often as pasted from a browser (`https://x.com/Apple`,
`bsky.app/profile/dell.com`). `read_handle` turns each accepted form into the form the
platform's API takes (the canonical handle: `Apple`, `dell.com`, `user@instance`, `@Apple` or
`UC…`), or refuses it with the platform's rule. The watchlist and the CSV import both read
handles through it, so a handle means the same account wherever it is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final
from urllib.parse import unquote, urlsplit

_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN: Final = rf"(?:{_LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?"
_CHANNEL_ID: Final = re.compile(r"^UC[A-Za-z0-9_-]{22}$")
#: The longest written handle read: longer than any handle or profile link (a domain name is
#: at most 253 characters), short enough to quote in an error.
MAX_HANDLE_CHARS: Final = 300
#: How much of a refused value an error quotes.
SHOWN_CHARS: Final = 60

#: Canonical handle syntax per platform, from each platform's contract (see ../shared/contracts).
HANDLE_PATTERNS: Final[dict[str, re.Pattern[str]]] = {
    "x": re.compile(r"^[A-Za-z0-9_]{1,15}$"),
    "bluesky": re.compile(rf"^(?:{_DOMAIN}|did:[a-z]+:[A-Za-z0-9._:%-]*[A-Za-z0-9._-])$"),
    "mastodon": re.compile(rf"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?@{_DOMAIN}$"),
    "youtube": re.compile(r"^(?:@[A-Za-z0-9._-]{1,30}|UC[A-Za-z0-9_-]{22})$"),
}

HANDLE_RULES: Final[dict[str, str]] = {
    "x": "X usernames are 1-15 letters, digits or underscores, written as Apple, @Apple "
    "or https://x.com/Apple",
    "bluesky": "Bluesky handles are domain names such as dell.com, or DIDs such as did:plc:…, "
    "written bare, with '@' or as https://bsky.app/profile/…",
    "mastodon": "Mastodon handles are user@instance, such as Gargron@mastodon.social, "
    "written with or without a leading '@' or as https://instance/@user",
    "youtube": "YouTube handles are up to 30 letters, digits, '.', '_' or '-', with or without "
    "'@' or as https://www.youtube.com/@…, or UC… channel ids (or "
    "https://www.youtube.com/channel/UC…)",
}

_X_HOSTS: Final = frozenset(
    f"{prefix}{domain}" for prefix in ("", "www.", "mobile.") for domain in ("x.com", "twitter.com")
)
_BLUESKY_HOSTS: Final = frozenset({"bsky.app", "www.bsky.app"})
_YOUTUBE_HOSTS: Final = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com"})


def shown(value: object) -> str:
    """`repr(value)` cut to SHOWN_CHARS, for quoting a value someone wrote in an error."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 2] + "…" + text[-1]


class HandleError(ValueError):
    """A handle no accepted form of its platform matches; the message says which forms are."""

    def __init__(self, platform: str, written: str, reason: str | None = None) -> None:
        super().__init__(
            f"invalid {platform} handle {shown(written)}: {reason or HANDLE_RULES[platform]}"
        )


class _NotAProfile(Exception):
    """A link that names no account (another site, a post, a search)."""


def _link(written: str, hosts: frozenset[str] | None) -> tuple[str, list[str]]:
    """The host and path segments of a profile link (the scheme may be left out); query,
    fragment and trailing slash are ignored. `hosts` None: any host (Mastodon instances)."""
    parts = urlsplit(written if "://" in written else f"https://{written}")
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or (hosts and host not in hosts):
        raise _NotAProfile
    return host, [unquote(segment) for segment in parts.path.split("/") if segment]


def _profile(written: str, hosts: frozenset[str], *before: str) -> str:
    """The handle of a profile link `host/<before…>/<handle>`, else the handle as written;
    without a leading '@'."""
    if "/" in written:
        _, segments = _link(written, hosts)
        if tuple(segments[:-1]) != before or not segments:
            raise _NotAProfile
        written = segments[-1]
    return written.removeprefix("@")


def _x(written: str) -> str:
    return _profile(written, _X_HOSTS)


def _bluesky(written: str) -> str:
    return _profile(written, _BLUESKY_HOSTS, "profile")


def _mastodon(written: str) -> str:
    if "/" in written:
        instance, segments = _link(written, None)
        if len(segments) != 1 or not segments[0].startswith("@"):
            raise _NotAProfile
        user = segments[0][1:]
        # An instance shows a remote account as https://instance/@user@home.
        return user if "@" in user else f"{user}@{instance}"
    return written.removeprefix("@")


def _youtube(written: str) -> str:
    if "/" in written:
        _, segments = _link(written, _YOUTUBE_HOSTS)
        if len(segments) == 1 and segments[0].startswith("@"):
            return segments[0]
        if len(segments) == 2 and segments[0] == "channel":
            return segments[1]
        raise _NotAProfile
    if written.startswith("@") or _CHANNEL_ID.match(written):
        return written
    return f"@{written}"


#: One reader per platform: a written form in, the canonical handle (still to be checked) out.
_READERS: Final[dict[str, Callable[[str], str]]] = {
    "x": _x,
    "bluesky": _bluesky,
    "mastodon": _mastodon,
    "youtube": _youtube,
}


def read_handle(platform: str, written: str) -> str:
    """The canonical handle `written` names on `platform`, or HandleError.

    Accepted: the canonical form itself, a leading '@' (X, Bluesky, Mastodon), a YouTube handle
    without its '@', and profile links with or without scheme, query or trailing slash."""
    text = written.strip()
    if len(text) > MAX_HANDLE_CHARS:
        raise HandleError(
            platform,
            written,
            f"{len(text):,} characters, more than any handle or profile link "
            f"({MAX_HANDLE_CHARS} at most)",
        )
    try:
        canonical = _READERS[platform](text)
    except _NotAProfile:
        raise HandleError(platform, written) from None
    if not HANDLE_PATTERNS[platform].match(canonical):
        raise HandleError(platform, written)
    return canonical
