"""What changed for each watched account: the lake's last days, read right after a run lands.

Per-run artifacts (the biggest movers) and alerts (milestones, drops, stale accounts) need
each account's count in this run next to its previous count, its count at the end of the
previous UTC day, and when it was last counted. The marts lag one refresh behind a snapshot,
so this reads the lake itself, limited to the partitions of the last days (cost does not
grow with history) and to the files its Delta table's latest version names (so a
compaction in progress never counts a row twice).

A run's tail reads `run_changes` (`RunChanges`): the reduction is done in SQL, so only the
biggest movers, the first accounts without a count and the accounts an alert rule may concern
reach Python, on a connection of bounded memory. `account_changes` reads every account.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import duckdb

from followerledger.delta_lake import OBSERVATIONS, PARTITION_COLUMNS, delta_lake_of
from followerledger.layout import WarehouseLayout
from followerledger.models import LAKE_DATASETS
from followerledger.models.duckdb_sql import connect, partitioned_relation, sql_text
from followerledger.models.session import watchlist_tables
from followerledger.watchlist import AlertRules, Watchlist, normalize_handle

#: The shortest stretch read: this run, the previous one and the whole previous UTC day.
MIN_WINDOW: Final = timedelta(hours=48)

_CHUNK_ROWS: Final = 10_000

#: The queries (reports over the lake, not stored models): every account's changes, and
#: what a run reports of them.
ACCOUNT_CHANGES_SQL: Final = "run_report/account_changes.sql"
RUN_CHANGES_SQL: Final = "run_report/run_changes.sql"

#: How much later than `now` the stale rule may be judged (`alerts.evaluate` takes its own
#: clock, after this read): accounts stale by then are read too.
STALE_SLACK: Final = timedelta(hours=1)


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


@dataclasses.dataclass(frozen=True, slots=True)
class RunChanges:
    """What a run's artifacts and alerts need of its account changes: the biggest movers
    (largest first), the first accounts without a count in this run (by platform, handle)
    and how many there are, and the accounts an alert rule may concern (a superset:
    `alerts.evaluate` applies the rules)."""

    movers: tuple[AccountChange, ...]
    uncounted: tuple[AccountChange, ...]
    uncounted_total: int
    alerting: tuple[AccountChange, ...]

    @classmethod
    def of(cls, changes: Sequence[AccountChange], movers: int, uncounted: int) -> RunChanges:
        """The same reduction of changes already in memory (every one may alert)."""
        moved = sorted((item for item in changes if item.change), key=_mover_order)
        without = sorted(
            (item for item in changes if item.status is not None and item.followers is None),
            key=_account_order,
        )
        return cls(tuple(moved[:movers]), tuple(without[:uncounted]), len(without), tuple(changes))


def _mover_order(item: AccountChange) -> tuple[int, str, str]:
    return (-abs(item.change or 0), item.platform, item.handle)


def _account_order(item: AccountChange) -> tuple[str, str]:
    return (item.platform, item.handle)


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
    """Every watched account, with this run's row and what came before it in the window
    (by platform, handle)."""
    connection = connect(threads=1, lake=layout)
    try:
        since = now - window
        _bind_inputs(connection, layout, watchlist, since)
        cursor = connection.execute(
            _over_changes("select * from account_changes order by platform, handle"),
            {"since": since, "run_id": run_id},
        )
        changes: list[AccountChange] = []
        # In chunks: a large watchlist's rows never sit in memory twice (tuples and objects).
        while chunk := cursor.fetchmany(_CHUNK_ROWS):
            changes.extend(AccountChange(*row) for row in chunk)
    finally:
        connection.close()
    return changes


def run_changes(
    layout: WarehouseLayout,
    watchlist: Watchlist,
    run_id: str,
    now: datetime,
    *,
    movers: int,
    uncounted: int,
    stale_keys: Collection[str] = (),
) -> RunChanges:
    """What this run reports of its account changes (`RunChanges`), reduced in SQL on a
    connection of bounded memory (`duckdb_sql.RUN_MEMORY_LIMIT`), under the watchlist's
    alert rules; `stale_keys` are the `<platform>:<handle key>` of the stale spells alerted
    (`alerts.stale_keys`), whose accounts are read when counted again."""
    rules = watchlist.alerts
    since = now - read_window(rules.stale_hours)
    parameters = {
        "since": since,
        "run_id": run_id,
        "movers": movers,
        "uncounted": uncounted,
        **_rule_parameters(rules, now, stale_keys),
    }
    try:
        rows, total = _reduce(layout, watchlist, parameters, bounded=True)
    except duckdb.OutOfMemoryException:
        # The cap keeps a run's tail within what a snapshot can afford; changes that do not
        # fit are read again without it rather than leave the run without its report.
        rows, total = _reduce(layout, watchlist, parameters, bounded=False)
    parts: dict[str, list[AccountChange]] = {"mover": [], "uncounted": [], "alerting": []}
    for part, *values in rows:
        parts[part].append(AccountChange(*values))
    # In the order `account_changes` reads (so alerts go out in the same order).
    return RunChanges(
        tuple(sorted(parts["mover"], key=_mover_order)),
        tuple(sorted(parts["uncounted"], key=_account_order)),
        total,
        tuple(sorted(parts["alerting"], key=_account_order)),
    )


def _reduce(
    layout: WarehouseLayout, watchlist: Watchlist, parameters: dict[str, Any], *, bounded: bool
) -> tuple[list[tuple[Any, ...]], int]:
    """run_changes.sql's rows and the number of accounts without a count."""
    connection = connect(
        threads=1, lake=layout, bounded=layout if bounded else None, keep_order=False
    )
    try:
        _bind_inputs(connection, layout, watchlist, parameters["since"])
        rows = connection.execute(
            _over_changes(f"select * from ({sql_text(RUN_CHANGES_SQL)})"), parameters
        ).fetchall()
        (total,) = connection.execute(
            _over_changes(
                "select count(*) from account_changes "
                "where status is not null and followers is null"
            ),
            {"since": parameters["since"], "run_id": parameters["run_id"]},
        ).fetchone() or (0,)
    finally:
        connection.close()
    return rows, int(total)


def _rule_parameters(
    rules: AlertRules, now: datetime, stale_keys: Collection[str]
) -> dict[str, Any]:
    """The alert rules as run_changes.sql's parameters (None: the rule is off)."""
    stale_before = None if rules.stale_hours is None else now - timedelta(hours=rules.stale_hours)
    return {
        "milestones": list(rules.milestones),
        "drop_percent": rules.drop_percent,
        "stale_before": stale_before,
        "stale_late": None if stale_before is None else stale_before + STALE_SLACK,
        "stale_keys": sorted(stale_keys),
    }


def _over_changes(query: str) -> str:
    """`query` over `account_changes` (account_changes.sql, a CTE never materialized: it
    streams, so a bounded connection holds only what the query itself keeps)."""
    return f"with account_changes as not materialized ({sql_text(ACCOUNT_CHANGES_SQL)})\n{query}"


def _bind_inputs(
    connection: duckdb.DuckDBPyConnection,
    layout: WarehouseLayout,
    watchlist: Watchlist,
    since: datetime,
) -> None:
    """The views account_changes.sql reads: `observations` (the lake's files that may hold
    rows since `since`) and `watchlist`."""
    # A row lands in the partition of its run's UTC start day, at most a day before it.
    first_day = since.date() - timedelta(days=1)
    snapshot = delta_lake_of(layout).snapshot(OBSERVATIONS)
    paths = [item.path for item in snapshot.files if item.day >= first_day]
    relation = partitioned_relation(
        paths, LAKE_DATASETS[OBSERVATIONS.name].columns, PARTITION_COLUMNS
    )
    connection.execute(f"create temp view observations as {relation}")
    accounts, _ = watchlist_tables(watchlist)
    connection.register("watchlist", accounts)
