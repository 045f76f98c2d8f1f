"""Temporary files: how writers name them, and how the next run sweeps those a killed run left.

Every writer that makes a file appear whole (lake and mart files, the catalog, the state
file, the report) writes it first under `temporary_name`: hidden (a leading dot), never
ending in `.parquet`, so no listing or reader sees it. A writer killed with SIGKILL cannot
remove its own; `sweep` removes those whose last write is older than `TEMPORARY_AGE`.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Final

from followerledger.layout import WarehouseLayout

#: Older than any live writer leaves one untouched, so a file this old belongs to a dead run.
#: Generous on purpose: a landing writes a row group only every 20,000 rows and may wait out
#: rate-limit resets for hours between them, and an import's finished files wait, untouched,
#: until all of its files are written.
TEMPORARY_AGE: Final = timedelta(hours=24)

#: `.<name>.tmp-<hex>` with an optional `-<hex>` part, and DuckDB's `.wal` beside a catalog.
_TEMPORARY: Final = re.compile(r"^\.[^/]+\.tmp-[0-9a-f]+(?:-[0-9a-f]+)?(?:\.wal)?$")


def temporary_name(name: str) -> str:
    """A fresh temporary name for a file that will become `name` (see the module doc)."""
    return f".{name}.tmp-{uuid.uuid4().hex}"


def is_temporary(name: str) -> bool:
    """Whether a file name is one `temporary_name` (or DuckDB beside it) makes."""
    return _TEMPORARY.match(name) is not None


def sweep(
    roots: Iterable[Path], *, age: timedelta = TEMPORARY_AGE, now: float | None = None
) -> list[Path]:
    """Remove the temporary files under `roots` (recursively) not written to for `age`;
    return them. A root that does not exist is skipped; a file gone meanwhile is fine."""
    cutoff = (time.time() if now is None else now) - age.total_seconds()
    removed: list[Path] = []
    for root in roots:
        for directory, _, names in os.walk(root):
            for name in names:
                if not is_temporary(name):
                    continue
                path = Path(directory) / name
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed.append(path)
                except FileNotFoundError:
                    continue
    return removed


def sweep_warehouse(layout: WarehouseLayout) -> list[Path]:
    """`sweep` the warehouse (catalog, state, marts) and the lake when it is a local folder
    elsewhere (a lake on an object store leaves no temporary files: its uploads are whole)."""
    warehouse = layout.warehouse
    roots = [warehouse]
    lake = layout.local_lake if layout.lake_is_local else None
    if lake is not None and not lake.resolve().is_relative_to(warehouse.resolve()):
        roots.append(lake)
    return sweep(roots)
