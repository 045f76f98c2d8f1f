"""Where the warehouse and lake are: read exactly as `Settings` reads them, but without loading
pydantic, so that `followerledger query` starts about as fast as DuckDB itself."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values

WAREHOUSE_ENV: Final = "FOLLOWERLEDGER_WAREHOUSE"
LAKE_ENV: Final = "FOLLOWERLEDGER_LAKE"
DEFAULT_WAREHOUSE: Final = Path("warehouse")
#: The demo's own warehouse: beside the real one's lake and marts, never inside them.
DEMO_WAREHOUSE: Final = DEFAULT_WAREHOUSE / "demo"
CATALOG_NAME: Final = "followerledger.duckdb"
ENV_FILE: Final = ".env"
WHERE_SET: Final = "(set in the environment or .env)"


class SettingsError(ValueError):
    """A setting has a value it cannot take; the message names the variable and the rule,
    never the value (it could be a secret)."""


def settings_error(variable: str, rule: str) -> SettingsError:
    """The one-line error for a variable that breaks a rule."""
    return SettingsError(f"{variable}: {rule} {WHERE_SET}")


def check_warehouse(value: str) -> str:
    """The warehouse setting as given, or ValueError when it is empty or a URI: the warehouse
    holds the DuckDB file analysts open, so it is a local folder."""
    if not value.strip():
        raise ValueError(
            f"must name a folder (leave it unset for the default ./{DEFAULT_WAREHOUSE})"
        )
    if "://" in value:
        raise ValueError(f"must be a local folder, not a URI (set a lake elsewhere in {LAKE_ENV})")
    return value


def warehouse_location() -> Path:
    """The warehouse folder: the environment first, then `.env`, then the default (names are
    matched in upper or lower case, as `Settings` does); SettingsError when empty or a URI."""
    value = _setting(WAREHOUSE_ENV)
    if value is None:
        return DEFAULT_WAREHOUSE
    try:
        return Path(check_warehouse(value))
    except ValueError as error:
        raise settings_error(WAREHOUSE_ENV, str(error)) from None


def catalog_location() -> Path:
    """The published DuckDB file analysts open."""
    return warehouse_location() / CATALOG_NAME


def local_lake_location() -> Path:
    """The lake root as a local folder (a path or a `file://` URI; default <warehouse>/lake).

    SettingsError for any other URI: `query` confines DuckDB to local folders.
    """
    value = _setting(LAKE_ENV)
    if not value:
        return warehouse_location() / "lake"
    if "://" not in value:
        return Path(value)
    parts = urlsplit(value)
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        return Path(unquote(parts.path))
    # Only the scheme is named: the rest of a URI can hold credentials.
    raise settings_error(
        LAKE_ENV,
        f"`followerledger query` reads only a local lake (a path or file:// URI), not a "
        f"{parts.scheme}:// one; query that lake with DuckDB directly",
    )


def _setting(name: str) -> str | None:
    """The variable's value from the first source that sets it, even to "" (as pydantic-settings
    reads it: the environment wins over .env)."""
    for source in (os.environ, _dotenv()):
        for key in (name, name.lower()):
            value = source.get(key)
            if value is not None:
                return value
    return None


def _dotenv() -> dict[str, str | None]:
    return dotenv_values(ENV_FILE) if os.path.exists(ENV_FILE) else {}
