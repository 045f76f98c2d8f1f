"""What every platform's handle reader shares: domain syntax and reading a profile link."""

from __future__ import annotations

from typing import Final
from urllib.parse import unquote, urlsplit

LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
DOMAIN: Final = rf"(?:{LABEL}\.)+[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?"


class NotAProfile(Exception):
    """A link that names no account (another site, a post, a search)."""


def link(written: str, hosts: frozenset[str] | None) -> tuple[str, list[str]]:
    """The host and path segments of a profile link (the scheme may be left out); query,
    fragment and trailing slash are ignored. `hosts` None: any host (Mastodon instances)."""
    parts = urlsplit(written if "://" in written else f"https://{written}")
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or (hosts and host not in hosts):
        raise NotAProfile
    return host, [unquote(segment) for segment in parts.path.split("/") if segment]


def profile_handle(written: str, hosts: frozenset[str], *before: str) -> str:
    """The handle of a profile link `host/<before…>/<handle>`, else the handle as written;
    without a leading '@'."""
    if "/" in written:
        _, segments = link(written, hosts)
        if tuple(segments[:-1]) != before or not segments:
            raise NotAProfile
        written = segments[-1]
    return written.removeprefix("@")
