"""Where everything under the warehouse lives (`WarehouseLayout`), and the fast second reader
of the warehouse and lake settings: read exactly as `Settings` reads them, but without
loading pydantic, so that `followerledger query` starts about as fast as DuckDB itself.

This is the one module that joins names under the warehouse; everything else asks a layout.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit

from dotenv import dotenv_values

from followerledger.errors import ConfigError
from followerledger.urls import shown_url

__all__ = [
    "ALERTS_LEDGER_NAME",
    "CATALOG_NAME",
    "DEFAULT_WAREHOUSE",
    "DEMO_HISTORY_NAME",
    "DEMO_MARKER_NAME",
    "DEMO_PREFECT_HOME_NAME",
    "DEMO_WAREHOUSE",
    "DERIVED_NAMES",
    "ENV_FILE",
    "LAKE_ENV",
    "LAKE_NAME",
    "MANIFEST_NAME",
    "MARTS_NAME",
    "MIGRATION_NAME",
    "PREFECT_HOME_NAME",
    "REPORT_NAME",
    "SPILL_NAME",
    "STATE_NAME",
    "WAREHOUSE_ENV",
    "WHERE_SET",
    "SettingsError",
    "WarehouseLayout",
    "check_warehouse",
    "settings_error",
    "warehouse_location",
]

WAREHOUSE_ENV: Final = "FOLLOWERLEDGER_WAREHOUSE"
LAKE_ENV: Final = "FOLLOWERLEDGER_LAKE"
DEFAULT_WAREHOUSE: Final = Path("warehouse")
#: The demo's own warehouse: beside the real one's lake and marts, never inside them.
DEMO_WAREHOUSE: Final = DEFAULT_WAREHOUSE / "demo"
CATALOG_NAME: Final = "followerledger.duckdb"
REPORT_NAME: Final = "report.html"
LAKE_NAME: Final = "lake"
MARTS_NAME: Final = "marts"
#: The migration's own folder under a local lake (`followerledger migrate`): the Delta tables
#: it is building (`staging/`), the lake's old run files (`backup-<UTC time>/`, kept, never
#: deleted) and its journal. No dataset is named like this and no reader lists it.
MIGRATION_NAME: Final = "_migration"
STATE_NAME: Final = "_state"
MANIFEST_NAME: Final = "state.json"
ALERTS_LEDGER_NAME: Final = "alerts.json"
#: Where a DuckDB connection with bounded memory writes what does not fit (one folder per
#: connection, made and removed by DuckDB; its files are named after the process).
SPILL_NAME: Final = "spill"
PREFECT_HOME_NAME: Final = "_prefect"
#: The demo's own files at the top of its warehouse: its marker (JSON: the runs it wrote,
#: run id -> the `source` of their rows), the history it generates, and the home of its own
#: Prefect server (kept, so the next demo starts it without migrating a new database).
DEMO_MARKER_NAME: Final = ".demo-warehouse"
DEMO_HISTORY_NAME: Final = "history-90d.csv"
DEMO_PREFECT_HOME_NAME: Final = "_prefect_demo"
#: What the pipeline writes at the top of a warehouse (the demo clears exactly these).
DERIVED_NAMES: Final = frozenset({LAKE_NAME, MARTS_NAME, STATE_NAME, CATALOG_NAME, REPORT_NAME})
ENV_FILE: Final = ".env"
WHERE_SET: Final = "(set in the environment or .env)"


#: What a bad setting raises: the one configuration-error type, under the name settings use.
SettingsError = ConfigError


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


@dataclasses.dataclass(frozen=True)
class WarehouseLayout:
    """Every location under one warehouse, and its lake (a local path or a filesystem URI,
    by default `<warehouse>/lake`). Picklable, so flows pass it to tasks as it is."""

    warehouse: Path
    lake_uri: str

    def __repr__(self) -> str:
        # A remote lake's URI may carry credentials; a layout travels to Prefect as a task
        # argument, so it is only ever shown without them.
        return (
            f"WarehouseLayout(warehouse={str(self.warehouse)!r}, lake={shown_url(self.lake_uri)!r})"
        )

    __str__ = __repr__

    @classmethod
    def at(cls, warehouse: Path, lake: str | Path | None = None) -> WarehouseLayout:
        """The layout of `warehouse`, with its lake at `lake` (default `<warehouse>/lake`)."""
        return cls(Path(warehouse), str(warehouse / LAKE_NAME) if lake is None else str(lake))

    @classmethod
    def from_environment(cls) -> WarehouseLayout:
        """The layout the environment (and `.env`) configures, read without pydantic;
        SettingsError for a bad warehouse setting."""
        return cls.at(warehouse_location(), _setting(LAKE_ENV) or None)

    @property
    def lake_is_local(self) -> bool:
        """Whether the lake is a local folder (a path or a `file://` URI)."""
        return _local_path(self.lake_uri) is not None

    @property
    def local_lake(self) -> Path:
        """The lake root as a local folder; SettingsError naming the lake setting for a
        remote lake (what works on local folders only: the migration, the leftovers sweep)."""
        path = _local_path(self.lake_uri)
        if path is None:
            # Only the scheme is named: the rest of a URI can hold credentials.
            raise settings_error(
                LAKE_ENV,
                f"this needs a local lake (a path or file:// URI), not "
                f"a {urlsplit(self.lake_uri).scheme}:// one",
            )
        return path

    def lake_dataset(self, dataset: str) -> Path:
        """A dataset's folder in a local lake (`<lake>/<dataset>`); SettingsError for a
        remote lake."""
        return self.local_lake / dataset

    @property
    def migration(self) -> Path:
        """The migration's folder in a local lake (`<lake>/_migration`)."""
        return self.local_lake / MIGRATION_NAME

    def migration_staging(self, dataset: str) -> Path:
        """Where `migrate` builds a dataset's Delta table before swapping it in."""
        return self.migration / "staging" / dataset

    def migration_backup(self, stamp: str) -> Path:
        """The folder the lake's old run files are moved to (`backup-<stamp>`, one folder per
        dataset inside, laid out as the lake was)."""
        return self.migration / f"backup-{stamp}"

    @property
    def migration_journal(self) -> Path:
        """The journal of a migration in progress (which backup folder it moves files to)."""
        return self.migration / "journal.json"

    @property
    def marts(self) -> Path:
        """The mart files' root (always local: the catalog names them)."""
        return self.warehouse / MARTS_NAME

    @property
    def state_directory(self) -> Path:
        """The folder of the build manifest, the alert ledger and the locks."""
        return self.warehouse / STATE_NAME

    @property
    def manifest(self) -> Path:
        """The build manifest (`manifest.BuildManifest` as JSON)."""
        return self.state_directory / MANIFEST_NAME

    @property
    def alerts_ledger(self) -> Path:
        """The alerts delivered and still to deliver."""
        return self.state_directory / ALERTS_LEDGER_NAME

    def spill_directory(self, name: str) -> Path:
        """The folder a bounded DuckDB connection `name` spills to (`duckdb_sql.connect`)."""
        return self.state_directory / SPILL_NAME / name

    def lock(self, name: str) -> Path:
        """The file of the inter-process lock `name` (`locks.hold`)."""
        return self.state_directory / f"{name}.lock"

    @property
    def catalog(self) -> Path:
        """The published DuckDB file analysts open."""
        return self.warehouse / CATALOG_NAME

    @property
    def report(self) -> Path:
        """The latest HTML report."""
        return self.warehouse / REPORT_NAME

    @property
    def report_uri(self) -> str:
        """The latest report's file:// URI (what a run's artifact links to)."""
        return self.report.resolve().as_uri()

    @property
    def demo_marker(self) -> Path:
        """The demo's marker, in a warehouse the demo writes."""
        return self.warehouse / DEMO_MARKER_NAME

    @property
    def demo_history(self) -> Path:
        """The history file the demo generates and imports."""
        return self.warehouse / DEMO_HISTORY_NAME

    @property
    def demo_prefect_home(self) -> Path:
        """The home (and SQLite database, absolute) of the demo's own Prefect server."""
        return self.warehouse.resolve() / DEMO_PREFECT_HOME_NAME

    @property
    def prefect_home(self) -> Path:
        """PREFECT_HOME (absolute) of the local Prefect server `deploy` and `serve` start."""
        return self.warehouse.resolve() / PREFECT_HOME_NAME


def _local_path(uri: str) -> Path | None:
    """The local folder a lake setting names, or None for a remote one."""
    if "://" not in uri:
        return Path(uri)
    parts = urlsplit(uri)
    if parts.scheme == "file" and parts.netloc in ("", "localhost"):
        return Path(unquote(parts.path))
    return None


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
