"""Configured URLs as they may be shown: in errors, logs, stored rows and printed hints.

A URL from a setting (`PREFECT_API_URL`, `FOLLOWERLEDGER_*_API_URL`) may carry credentials in
its userinfo (`user:pass@`) or query (`?token=`); only scheme, host, port and path are shown.
No Prefect, no HTTP client: `query` and every other command can use it.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def shown_url(url: str) -> str:
    """`url` as scheme://host[:port]/path, without userinfo, query or fragment."""
    parts = urlsplit(url)
    if not parts.netloc:
        # Not scheme://host (`user:pass@host/path` parses as scheme `user`): drop up to the
        # last `@` and anything after `?` or `#`, so no credential survives a typo.
        bare = url.split("?", 1)[0].split("#", 1)[0]
        return bare.rsplit("@", 1)[-1]
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: shown without it rather than failing
        port = None
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def without_url_secrets(text: str, url: str) -> str:
    """`text` (a library's error message that may quote `url`) with the URL's password,
    username and query replaced by '***'."""
    parts = urlsplit(url)
    for secret in (parts.password, parts.username, parts.query, parts.fragment):
        if secret:
            text = text.replace(secret, "***")
    return text
