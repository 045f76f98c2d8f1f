"""The run_credentials relation: a run's shards summed per credential label, X's billed reads
charged to the credential whose shard read the user; it adds up to `runs`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

from followerledger import landing
from followerledger.delta_lake import DeltaLake
from followerledger.layout import WarehouseLayout
from followerledger.observation import Observation
from followerledger.refresh import refresh
from followerledger.run_costs import credential_costs
from followerledger.shards import ShardSpec
from followerledger.sources.base import Usage

DAY = datetime(2026, 11, 2, tzinfo=UTC)
COLUMNS = (
    "day, run_id, platform, credential, shards, requests, quota_units, accounts, ok, error, "
    "x_billed_reads, x_estimated_cost_usd"
)


def land_shard(
    lake: DeltaLake,
    run_id: str,
    platform: str,
    started: datetime,
    shard: ShardSpec | None,
    credential: str | None,
    reads: list[tuple[str, str]],
    usage: Usage,
) -> None:
    """One shard of a run (or a whole run, `shard` None) that read these (handle, status)
    pairs with that credential, one second after the run started."""
    rows = [
        Observation(
            run_id=run_id,
            observed_at=started + timedelta(seconds=1),
            platform=platform,
            handle=handle,
            status=status,  # type: ignore[arg-type]
            source="api",
            account_id=f"id-{handle}" if status == "ok" else None,
            followers=10 if status == "ok" else None,
            requested_handle=handle,
        )
        for handle, status in reads
    ]
    landed = landing.Landing(lake, platform, run_id, started, shard=shard)
    landed.add(rows)
    landed.commit()
    record = landed.record(usage, started + timedelta(seconds=2), credential=credential)
    landing.write_run_record(lake, record, shard)


def query(warehouse: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(warehouse / "followerledger.duckdb"), read_only=True) as connection:
        return connection.sql(sql).fetchall()


def land_world(lake: DeltaLake, warehouse: Path, refresh_between: bool) -> None:
    layout = WarehouseLayout.at(warehouse, lake.root)
    # r0: a run landed before runs named their credential, reading a and b first today.
    land_shard(
        lake, "r0", "x", DAY + timedelta(hours=1), None, None, [("a", "ok"), ("b", "ok")], Usage(1)
    )
    if refresh_between:
        refresh(layout, None)
    # s1: three shards over two X credentials (shard k sends credential k mod 2).
    started = DAY + timedelta(hours=2)
    shards = [
        ("X_BEARER_TOKEN", [("a", "ok"), ("c", "ok")], Usage(1)),
        ("X_BEARER_TOKENS[1]", [("d", "ok"), ("e", "not_found")], Usage(2)),
        ("X_BEARER_TOKEN", [("f", "ok"), ("g", "error")], Usage(3)),
    ]
    for index, (credential, reads, usage) in enumerate(shards):
        land_shard(lake, "s1", "x", started, ShardSpec(index, 3), credential, reads, usage)
    land_shard(
        lake, "s1", "bluesky", started, ShardSpec(0, 3), None, [("h.bsky.social", "ok")], Usage(1)
    )
    if refresh_between:
        refresh(layout, None)
    # y1, the next day: two YouTube keys, each its own quota.
    next_day = DAY + timedelta(days=1)
    land_shard(
        lake,
        "y1",
        "youtube",
        next_day,
        ShardSpec(0, 2),
        "YOUTUBE_API_KEY",
        [("@a", "ok")],
        Usage(2, 2),
    )
    land_shard(
        lake,
        "y1",
        "youtube",
        next_day,
        ShardSpec(1, 2),
        "YOUTUBE_API_KEYS[1]",
        [("@b", "ok")],
        Usage(3, 3),
    )
    refresh(layout, None)


def test_a_runs_credentials_each_get_their_requests_accounts_and_x_cost(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    land_world(DeltaLake(warehouse / "lake"), warehouse, refresh_between=False)
    rows = query(warehouse, f"select {COLUMNS} from run_credentials order by all")
    today, tomorrow = date(2026, 11, 2), date(2026, 11, 3)
    assert rows == [
        (today, "r0", "x", "(none)", 1, 1, None, 2, 2, 0, 2, Decimal("0.020")),
        (today, "s1", "bluesky", "(none)", 1, 1, None, 1, 1, 0, None, None),
        # a was read by r0 earlier today: only c and f are billed to the first token.
        (today, "s1", "x", "X_BEARER_TOKEN", 2, 4, None, 4, 3, 1, 2, Decimal("0.020")),
        (today, "s1", "x", "X_BEARER_TOKENS[1]", 1, 2, None, 2, 1, 0, 1, Decimal("0.010")),
        (tomorrow, "y1", "youtube", "YOUTUBE_API_KEY", 1, 2, 2, 1, 1, 0, None, None),
        (tomorrow, "y1", "youtube", "YOUTUBE_API_KEYS[1]", 1, 3, 3, 1, 1, 0, None, None),
    ]
    # Summed over its credentials, a run is its `runs` row.
    summed = query(
        warehouse,
        "select run_id, platform, sum(requests), sum(accounts), sum(x_billed_reads), "
        "sum(x_estimated_cost_usd) from run_credentials group by all order by all",
    )
    runs = query(
        warehouse,
        "select run_id, platform, requests, accounts, x_billed_reads, x_estimated_cost_usd "
        "from runs order by all",
    )
    assert summed == runs
    # What the flow prices a run's credentials with, before any refresh: the same model.
    layout = WarehouseLayout.at(warehouse, warehouse / "lake")
    assert credential_costs(layout, "s1", today) == {
        ("bluesky", "(none)"): None,
        ("x", "X_BEARER_TOKEN"): Decimal("0.020"),
        ("x", "X_BEARER_TOKENS[1]"): Decimal("0.010"),
    }


def test_incremental_refresh_equals_full(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    lake = DeltaLake(warehouse / "lake")
    land_world(lake, warehouse, refresh_between=True)
    incremental = query(warehouse, "select * from run_credentials order by all")
    refresh(WarehouseLayout.at(warehouse, lake.root), None, full=True)
    assert query(warehouse, "select * from run_credentials order by all") == incremental
    assert len(incremental) == 6
