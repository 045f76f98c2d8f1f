"""The runs relation: usage per run and platform, X's cost deduplicated per UTC day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

from followerledger import landing, run_log
from followerledger.delta_lake import DeltaLake
from followerledger.layout import WarehouseLayout
from followerledger.observation import Observation
from followerledger.refresh import refresh
from followerledger.shards import ShardSpec
from followerledger.sources.base import Usage

DAY = datetime(2026, 11, 2, tzinfo=UTC)


def land(
    lake: DeltaLake,
    run_id: str,
    platform: str,
    started: datetime,
    reads: list[tuple[str, str]],
    usage: Usage,
) -> None:
    """A run that read these (handle, status) pairs, one second after it started."""
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
    landing.write_observations(lake, platform, run_id, started, rows)
    record = run_log.summarize(
        run_id, platform, started, started + timedelta(seconds=2), rows, usage
    )
    landing.write_run_record(lake, record)


def test_x_reads_are_billed_once_per_utc_day(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    lake = DeltaLake(warehouse / "lake")
    land(
        lake,
        "r1",
        "x",
        DAY + timedelta(hours=1),
        [("a", "ok"), ("b", "ok"), ("c", "not_found")],
        Usage(1),
    )
    land(lake, "r2", "x", DAY + timedelta(hours=2), [("a", "ok"), ("d", "ok")], Usage(1))
    land(lake, "r3", "x", DAY + timedelta(days=1), [("a", "ok")], Usage(1))
    land(
        lake,
        "y1",
        "youtube",
        DAY + timedelta(hours=3),
        [("@a", "ok"), ("@b", "hidden")],
        Usage(3, 3),
    )
    refresh(WarehouseLayout.at(warehouse, lake.root), None)
    with duckdb.connect(str(warehouse / "followerledger.duckdb"), read_only=True) as connection:
        rows = connection.sql(
            "select day, run_id, platform, seconds, requests, quota_units, accounts, ok, "
            "not_found, hidden, x_billed_reads, x_estimated_cost_usd from runs "
            "order by started_at"
        ).fetchall()
    assert rows == [
        (date(2026, 11, 2), "r1", "x", 2.0, 1, None, 3, 2, 1, 0, 2, Decimal("0.020")),
        (date(2026, 11, 2), "r2", "x", 2.0, 1, None, 2, 2, 0, 0, 1, Decimal("0.010")),
        (date(2026, 11, 2), "y1", "youtube", 2.0, 3, 3, 2, 1, 0, 1, None, None),
        (date(2026, 11, 3), "r3", "x", 2.0, 1, None, 1, 1, 0, 0, 1, Decimal("0.010")),
    ]


def test_a_late_run_recomputes_only_its_day(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse"
    lake = DeltaLake(warehouse / "lake")
    land(lake, "r1", "x", DAY + timedelta(hours=1), [("a", "ok")], Usage(1))
    refresh(WarehouseLayout.at(warehouse, lake.root), None)
    land(lake, "r0", "x", DAY, [("a", "ok")], Usage(1))  # an earlier run of the day, landed late
    report = refresh(WarehouseLayout.at(warehouse, lake.root), None)
    assert report.days_recomputed == 1
    with duckdb.connect(str(warehouse / "followerledger.duckdb"), read_only=True) as connection:
        billed = connection.sql(
            "select run_id, x_billed_reads from runs order by run_id"
        ).fetchall()
    assert billed == [("r0", 1), ("r1", 0)]


def test_a_run_of_two_shards_is_one_row_per_platform_summing_them(tmp_path: Path) -> None:
    """Two shards of run s1 land their X rows and records apart (shard 1 a second later, on
    another credential); `runs` keeps one row per (run_id, platform) and counts the shards."""
    warehouse = tmp_path / "warehouse"
    lake = DeltaLake(warehouse / "lake")
    started = DAY + timedelta(hours=5)
    shards = {0: ([("a", "ok"), ("b", "not_found")], Usage(1)), 1: ([("c", "ok")], Usage(2))}
    for index, (reads, usage) in shards.items():
        observed = [
            Observation(
                run_id="s1",
                observed_at=started + timedelta(seconds=1),
                platform="x",
                handle=handle,
                status=status,  # type: ignore[arg-type]
                source="api",
                account_id=f"id-{handle}" if status == "ok" else None,
                followers=10 if status == "ok" else None,
                requested_handle=handle,
            )
            for handle, status in reads
        ]
        shard = landing.Landing(lake, "x", "s1", started, shard=ShardSpec(index, 2))
        shard.add(observed)
        shard.commit()
        finished = started + timedelta(seconds=2 + index)
        record = shard.record(usage, finished, credential=f"X_BEARER_TOKENS[{index}]")
        landing.write_run_record(lake, record, ShardSpec(index, 2))
    land(lake, "y1", "youtube", started, [("@a", "ok")], Usage(1, 1))
    refresh(WarehouseLayout.at(warehouse, lake.root), None)
    with duckdb.connect(str(warehouse / "followerledger.duckdb"), read_only=True) as connection:
        rows = connection.sql(
            "select day, run_id, platform, started_at, seconds, requests, quota_units, "
            "accounts, ok, not_found, error, shards, x_billed_reads, x_estimated_cost_usd, "
            "source from runs order by platform"
        ).fetchall()
        logged = connection.sql(
            "select shard, credential, requests from run_log where run_id = 's1' order by shard"
        ).fetchall()
    assert rows == [
        (
            date(2026, 11, 2),
            "s1",
            "x",
            started,
            3.0,
            3,
            None,
            3,
            2,
            1,
            0,
            2,
            2,
            Decimal("0.020"),
            "api",
        ),
        (date(2026, 11, 2), "y1", "youtube", started, 2.0, 1, 1, 1, 1, 0, 0, 1, None, None, "api"),
    ]
    assert logged == [(0, "X_BEARER_TOKENS[0]", 1), (1, "X_BEARER_TOKENS[1]", 2)]
