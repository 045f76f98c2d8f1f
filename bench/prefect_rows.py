"""What a snapshot writes into Prefect: rows its server's database gains per flow run.

Counted in the bench server's SQLite database (`<PREFECT_HOME>/prefect.db`, opened read-only)
before and after a run, each count taken once the server has settled (the counts stopped
moving: the server writes task runs and events from its event stream after a run ends), as
docs/design/issue15-shards.md §1 measured today's flow (branch i15-spikes).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Final

#: The tables counted, and what the bench calls them.
TABLES: Final = {
    "flow_run": "flow runs",
    "task_run": "task runs",
    "task_run_state": "task-run states",
    "log": "log rows",
    "events": "events",
    "event_resources": "event resources",
    "artifact": "artifacts",
}

#: Today's figures: what one snapshot flow run of 10,000 accounts (today's flow: one task run
#: per request batch, 238 batches) wrote, measured in docs/design/issue15-shards.md §1 (events
#: 749-767 over the runs measured; the highest is kept). Constants, not measured here: the
#: shard flow of branch i15-core replaces today's flow.
TODAY_ACCOUNTS: Final = 10_000
TODAY: Final = {
    "task runs": 253,
    "task-run states": 759,
    "log rows": 263,
    "events": 767,
}


def database_of(prefect_home: Path | None) -> Path | None:
    """The server's SQLite database, or None for a server whose database is not here (a
    configured `PREFECT_API_URL`)."""
    if prefect_home is None:
        return None
    path = prefect_home / "prefect.db"
    return path if path.exists() else None


def count_rows(database: Path) -> dict[str, int]:
    """Rows of each counted table, read through a read-only connection."""
    read_only = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=60)
    with contextlib.closing(read_only) as connection:
        present = {name for (name,) in connection.execute("select name from sqlite_master")}
        return {
            label: connection.execute(f'select count(*) from "{table}"').fetchone()[0]
            if table in present
            else 0
            for table, label in TABLES.items()
        }


def settled_rows(database: Path, quiet: float = 2.0, limit: float = 600.0) -> dict[str, int]:
    """The counts once they stopped moving for `quiet` seconds (at most `limit` seconds)."""
    deadline = time.monotonic() + limit
    last = count_rows(database)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = count_rows(database)
        if now == last:
            return now
        last = now
    return last


def written(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Rows each table gained."""
    return {label: after[label] - before[label] for label in before}


def describe(accounts: int, rows: dict[str, int], *, quick: bool) -> str:
    """One line: the rows a run wrote, and each against today's (per 1,000 accounts when the
    run's size is not today's)."""
    shown = ", ".join(f"{rows[label]:,} {label}" for label in TABLES.values())
    against = []
    for label, today in TODAY.items():
        if accounts == TODAY_ACCOUNTS:
            against.append(f"{label} {rows[label] / today:.3f}x")
        else:
            mine = rows[label] / accounts * 1000
            theirs = today / TODAY_ACCOUNTS * 1000
            against.append(f"{label} per 1,000 accounts {mine:.2f} vs {theirs:.2f}")
    today_text = ", ".join(f"{value:,} {label}" for label, value in TODAY.items())
    note = " (--quick: not comparable)" if quick else ""
    return (
        f"Prefect rows written by one snapshot of {accounts:,} accounts: {shown}; today's "
        f"flow at {TODAY_ACCOUNTS:,}: {today_text} -> {'; '.join(against)}{note}"
    )
