"""How a DuckDB connection reaches the lake's files: nothing to do for a local lake; for an
`s3://` lake, a Python filesystem registered on the connection.

DuckDB reads `s3://` paths through its httpfs extension, which downloads at first use and
cannot here. Instead `register_lake_filesystem` registers fsspec's `ArrowFSWrapper` around
pyarrow's `S3FileSystem` (DuckDB routes a path to a registered filesystem by its protocol),
configured from the standard AWS_* environment, as delta-rs is: `AWS_ENDPOINT_URL` (its scheme
and host), `AWS_REGION` (or `AWS_DEFAULT_REGION`); the keys (`AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) are read by pyarrow's AWS SDK itself, so no key
is ever held by followerledger, shown in a repr or pickled with the filesystem.

The registration is per connection: every connection that reads lake files or the catalog's
lake views registers first (and before `lock_configuration`). It checks the lake root once,
so a down endpoint or a wrong key is one line (`LakeUnreachable`) naming the lake and the
setting to check, never pyarrow's traceback. pyarrow and fsspec are imported only for an S3
lake: `followerledger query` over a local lake stays light.
"""

from __future__ import annotations

import functools
import os
import re
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from followerledger.errors import ConfigError
from followerledger.layout import LAKE_ENV, WHERE_SET, WarehouseLayout
from followerledger.urls import shown_url

if TYPE_CHECKING:
    import duckdb
    from pyarrow.fs import S3FileSystem

__all__ = [
    "ENDPOINT_ENV",
    "KEY_SETTINGS",
    "S3_SCHEME",
    "LakeUnreachable",
    "is_s3_lake",
    "lake_read_failure",
    "readable_lake_prefix",
    "register_lake_filesystem",
    "s3_filesystem",
]

S3_SCHEME: Final = "s3"
ENDPOINT_ENV: Final = "AWS_ENDPOINT_URL"
KEY_SETTINGS: Final = "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN if used)"
#: What pyarrow's AWS SDK says (`AWS Error <KIND> during ...`), and which setting to check.
_ADVICE: Final = {
    "NETWORK_CONNECTION": f"the endpoint cannot be reached; check {ENDPOINT_ENV}",
    "ACCESS_DENIED": f"access denied; check {KEY_SETTINGS}",
    "INVALID_ACCESS_KEY_ID": f"the key is not known; check {KEY_SETTINGS}",
    "SIGNATURE_DOES_NOT_MATCH": f"the key does not match; check {KEY_SETTINGS}",
    "NO_SUCH_BUCKET": f"no such bucket; check the bucket in {LAKE_ENV}",
    "INVALID_ENDPOINT": f"the endpoint is not valid; check {ENDPOINT_ENV}",
}
_AWS_ERROR: Final = re.compile(r"AWS Error ([A-Z_]+)")


class LakeUnreachable(ConfigError):
    """An S3 lake's files cannot be read with the AWS_* settings given. The message is one
    line: the lake (without credentials), what failed and the setting to check, never a key."""


def is_s3_lake(lake_uri: str) -> bool:
    """Whether the lake setting names an `s3://` lake."""
    return urlsplit(lake_uri).scheme == S3_SCHEME


def _lake_uri(lake: WarehouseLayout | str) -> str:
    return lake.lake_uri if isinstance(lake, WarehouseLayout) else lake


def _checked_s3(lake_uri: str) -> tuple[str, str]:
    """(bucket, prefix) of an `s3://bucket/prefix` lake; SettingsError for any other remote
    lake, or an S3 URI carrying anything but a bucket and a path (it could be a key)."""
    parts = urlsplit(lake_uri)
    if parts.scheme != S3_SCHEME:
        # Only the scheme is named: the rest of a URI can hold credentials.
        raise ConfigError(
            f"{LAKE_ENV}: DuckDB reads a local lake (a path or file:// URI) or an s3:// one, "
            f"not a {parts.scheme}:// one {WHERE_SET}"
        )
    if parts.username or parts.password or parts.query or parts.fragment or not parts.hostname:
        raise ConfigError(
            f"{LAKE_ENV}: an s3:// lake is s3://bucket/prefix; its endpoint, region and keys "
            f"come from the AWS_* variables, never from the URI {WHERE_SET}"
        )
    return parts.netloc, parts.path.strip("/")


def readable_lake_prefix(lake_uri: str) -> str:
    """The S3 lake's root as DuckDB's `allowed_directories` needs it (`s3://bucket/prefix/`:
    the trailing slash keeps `s3://bucket/prefix-other/` out); SettingsError as
    `register_lake_filesystem`."""
    bucket, prefix = _checked_s3(lake_uri)
    return f"s3://{bucket}/{prefix}/" if prefix else f"s3://{bucket}/"


def s3_filesystem() -> S3FileSystem:
    """pyarrow's S3 filesystem from the AWS_* environment: endpoint host and scheme from
    `AWS_ENDPOINT_URL`, the region; the keys are left to pyarrow's own credential chain."""
    from pyarrow import fs as pafs

    options: dict[str, str] = {}
    endpoint = os.environ.get(ENDPOINT_ENV)
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"{ENDPOINT_ENV}: must be an http:// or https:// URL, not "
                f"{shown_url(endpoint)!r} {WHERE_SET}"
            )
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        # Userinfo in the endpoint is dropped: keys come from their own variables only.
        options["endpoint_override"] = host if parts.port is None else f"{host}:{parts.port}"
        options["scheme"] = parts.scheme
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    return pafs.S3FileSystem(**options)


def register_lake_filesystem(
    connection: duckdb.DuckDBPyConnection, lake: WarehouseLayout | str
) -> None:
    """Let `connection` read the lake's files. A local lake needs nothing; an `s3://` lake
    gets the filesystem DuckDB reads `s3://` paths through (call before `lock_configuration`).
    SettingsError for a lake DuckDB cannot read; `LakeUnreachable` when the lake's root cannot
    be reached with the AWS_* settings (a lake with no table yet is fine)."""
    lake_uri = _lake_uri(lake)
    parts = urlsplit(lake_uri)
    if "://" not in lake_uri or (parts.scheme == "file" and parts.netloc in ("", "localhost")):
        return
    bucket, prefix = _checked_s3(lake_uri)
    arrow = s3_filesystem()
    try:
        arrow.get_file_info(f"{bucket}/{prefix}".rstrip("/"))
    except OSError as error:
        raise _unreachable(lake_uri, str(error)) from None
    connection.register_filesystem(_wrapper_class()(arrow))


@functools.cache
def _wrapper_class() -> type:
    """fsspec's wrapper of a pyarrow filesystem, answering DuckDB for `s3://` paths (DuckDB
    routes a path to a registered filesystem by the filesystem's `protocol`)."""
    from fsspec.implementations.arrow import ArrowFSWrapper

    return type("S3ArrowFS", (ArrowFSWrapper,), {"protocol": S3_SCHEME})


def lake_read_failure(lake: WarehouseLayout | str, error: BaseException) -> LakeUnreachable | None:
    """The one-line `LakeUnreachable` for a DuckDB error raised while reading an S3 lake's
    files (the connection's filesystem failed: the endpoint went down, a key was revoked),
    or None when the error is not one of those."""
    lake_uri = _lake_uri(lake)
    if not is_s3_lake(lake_uri) or _AWS_ERROR.search(str(error)) is None:
        return None
    return _unreachable(lake_uri, str(error))


def _unreachable(lake_uri: str, message: str) -> LakeUnreachable:
    # pyarrow's message names the bucket, key and endpoint, never a key; it is still not
    # quoted, so a future SDK message cannot carry one out.
    found = _AWS_ERROR.search(message)
    kind = found.group(1) if found else ""
    advice = _ADVICE.get(kind, f"check {ENDPOINT_ENV}, AWS_REGION and {KEY_SETTINGS}")
    reason = f" ({kind})" if kind else ""
    return LakeUnreachable(
        f"{LAKE_ENV}: cannot read the lake {shown_url(lake_uri)}{reason}: {advice}"
    )
