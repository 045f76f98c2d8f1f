"""Where the warehouse is: read exactly as `Settings` reads it, but without loading pydantic,
so that `followerledger query` starts about as fast as DuckDB itself."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from dotenv import dotenv_values

WAREHOUSE_ENV: Final = "FOLLOWERLEDGER_WAREHOUSE"
DEFAULT_WAREHOUSE: Final = Path("warehouse")
#: The demo's own warehouse: beside the real one's lake and marts, never inside them.
DEMO_WAREHOUSE: Final = DEFAULT_WAREHOUSE / "demo"
CATALOG_NAME: Final = "followerledger.duckdb"
ENV_FILE: Final = ".env"


def warehouse_location() -> Path:
    """The warehouse folder: the environment first, then `.env`, then the default (names are
    matched in upper or lower case, as `Settings` does)."""
    for source in (os.environ, _dotenv()):
        for name in (WAREHOUSE_ENV, WAREHOUSE_ENV.lower()):
            value = source.get(name)
            if value:
                return Path(value)
    return DEFAULT_WAREHOUSE


def catalog_location() -> Path:
    """The published DuckDB file analysts open."""
    return warehouse_location() / CATALOG_NAME


def _dotenv() -> dict[str, str | None]:
    return dotenv_values(ENV_FILE) if os.path.exists(ENV_FILE) else {}
