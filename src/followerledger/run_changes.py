"""What changed for each watched account: the lake's last days, read right after a run lands.

Per-run artifacts (the biggest movers) and alerts (milestones, drops, stale accounts) need
each account's count in this run next to its previous count, its count at the end of the
previous UTC day, and when it was last counted. The marts lag one refresh behind a snapshot,
so this reads the lake itself, limited to the partitions of the last days (cost does not
grow with history) and to the files its Delta table's latest version names (so a
compaction in progress never counts a row twice).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Final

from followerledger.delta_lake import OBSERVATIONS, PARTITION_COLUMNS, delta_lake_of
from followerledger.layout import WarehouseLayout
from followerledger.models import LAKE_DATASETS
from followerledger.models.duckdb_sql import connect, partitioned_relation, sql_text
from followerledger.models.session import watchlist_tables
from followerledger.watchlist import Watchlist, normalize_handle

#: The shortest stretch read: this run, the previous one and the whole previous UTC day.
MIN_WINDOW: Final = timedelta(hours=48)

_CHUNK_ROWS: Final = 10_000

#: The query (a report over the lake, not a stored model).
ACCOUNT_CHANGES_SQL: Final = "run_report/account_changes.sql"


@dataclasses.dataclass(frozen=True, slots=True)
class AccountChange:
    """One watched account: this run's row and the counts before it (None when unknown)."""

    brand: str
    platform: str
    handle: str
    status: str | None
    detail: str | None
    followers: int | None
    observed_at: datetime | None
    previous_followers: int | None
    previous_at: datetime | None
    prior_day_followers: int | None
    last_count_at: datetime | None
    first_seen_at: datetime | None

    @property
    def key(self) -> str:
        """`<platform>:<handle as compared on its platform>`: the watchlist entry."""
        return f"{self.platform}:{normalize_handle(self.platform, self.handle)}"

    @property
    def change(self) -> int | None:
        """Followers gained (negative: lost) since the previous count."""
        if self.followers is None or self.previous_followers is None:
            return None
        return self.followers - self.previous_followers

    @property
    def change_percent(self) -> float | None:
        """The change as a percentage of the previous count."""
        change = self.change
        if change is None or not self.previous_followers:
            return None
        return 100.0 * change / self.previous_followers


def read_window(stale_hours: float | None) -> timedelta:
    """How far back to read: enough for the previous day, and for the stale-account rule."""
    return max(MIN_WINDOW, timedelta(hours=(stale_hours or 0) + 24))


def account_changes(
    layout: WarehouseLayout,
    watchlist: Watchlist,
    run_id: str,
    now: datetime,
    window: timedelta = MIN_WINDOW,
) -> list[AccountChange]:
    """Every watched account, with this run's row and what came before it in the window."""
    since = now - window
    # A row lands in the partition of its run's UTC start day, at most a day before it.
    first_day = since.date() - timedelta(days=1)
    snapshot = delta_lake_of(layout).snapshot(OBSERVATIONS)
    paths = [item.path for item in snapshot.files if item.day >= first_day]
    connection = connect(threads=1, lake=layout)
    try:
        relation = partitioned_relation(
            paths, LAKE_DATASETS[OBSERVATIONS.name].columns, PARTITION_COLUMNS
        )
        connection.execute(f"create temp view observations as {relation}")
        accounts, _ = watchlist_tables(watchlist)
        connection.register("watchlist", accounts)
        cursor = connection.execute(
            sql_text(ACCOUNT_CHANGES_SQL), {"since": since, "run_id": run_id}
        )
        changes: list[AccountChange] = []
        # In chunks: a large watchlist's rows never sit in memory twice (tuples and objects).
        while chunk := cursor.fetchmany(_CHUNK_ROWS):
            changes.extend(AccountChange(*row) for row in chunk)
    finally:
        connection.close()
    return changes
