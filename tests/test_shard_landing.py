"""A run's shards in the lake: the `shard` and `credential` columns, each shard's commit
replacing only its own rows, and a lake of issue 14 (tables without the columns) upgraded."""

from __future__ import annotations

import concurrent.futures
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from followerledger import run_log
from followerledger.delta_lake import (
    OBSERVATIONS,
    PARTITION_COLUMNS,
    RUN_LOG,
    DeltaLake,
    delta_lake_of,
    run_predicate,
    with_date,
)
from followerledger.landing import Landing, write_run_record
from followerledger.layout import WarehouseLayout
from followerledger.models.duckdb_sql import connect, snapshot_relation
from followerledger.observation import Observation
from followerledger.shards import ShardSpec

AT = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def rows(handles: list[str], run_id: str = "run-1", followers: int = 1) -> list[Observation]:
    return [
        Observation(
            run_id=run_id,
            observed_at=AT,
            platform="x",
            handle=handle,
            status="ok",
            source="api",
            account_id=f"id-{handle}",
            followers=followers,
            requested_handle=handle,
        )
        for handle in handles
    ]


def land(
    lake: DeltaLake, shard: tuple[int, int] | None, handles: list[str], followers: int = 1
) -> int | None:
    landing = Landing(lake, "x", "run-1", AT, shard=ShardSpec(*shard) if shard else None)
    landing.add(rows(handles, followers=followers))
    return landing.commit()


def landed(lake: DeltaLake) -> list[tuple[str, int | None, int | None]]:
    """(handle, shard, followers) of every committed row of run-1."""
    table = DeltaTable(lake.table_uri(OBSERVATIONS)).to_pyarrow_table(
        columns=["run_id", "handle", "shard", "followers"]
    )
    return sorted(
        (row["handle"], row["shard"], row["followers"])
        for row in table.to_pylist()
        if row["run_id"] == "run-1"
    )


@pytest.fixture
def lake(tmp_path: Path) -> DeltaLake:
    return delta_lake_of(WarehouseLayout.at(tmp_path / "warehouse"))


def test_the_shard_predicate_names_its_shard_and_shard_0_takes_the_leftovers() -> None:
    assert run_predicate("x", "r") == "run_id = 'r' AND platform = 'x'"
    assert (
        run_predicate("x", "r", ShardSpec(2, 4)) == "run_id = 'r' AND platform = 'x' AND shard = 2"
    )
    assert run_predicate("x", "r", ShardSpec(0, 4)) == (
        "run_id = 'r' AND platform = 'x' AND (shard = 0 OR shard IS NULL OR shard >= 4)"
    )
    with pytest.raises(ValueError, match="shard 4 of 4"):
        run_predicate("x", "r", ShardSpec(4, 4))


def test_shards_of_one_run_land_side_by_side_and_carry_their_shard(lake: DeltaLake) -> None:
    shards = 8
    handles = {index: [f"s{index}-{n}" for n in range(30)] for index in range(shards)}
    with concurrent.futures.ThreadPoolExecutor(shards) as pool:
        versions = list(
            pool.map(lambda index: land(lake, (index, shards), handles[index]), range(shards))
        )
    assert len(set(versions)) == shards  # each its own commit, none failed
    assert landed(lake) == sorted(
        (handle, index, 1) for index, names in handles.items() for handle in names
    )


def test_a_shard_landed_again_replaces_only_its_own_rows(lake: DeltaLake) -> None:
    for index in range(3):
        land(lake, (index, 3), [f"s{index}-a", f"s{index}-b"])
    land(lake, (1, 3), ["s1-a", "s1-b"], followers=7)  # a Prefect retry of shard 1
    assert landed(lake) == [
        ("s0-a", 0, 1),
        ("s0-b", 0, 1),
        ("s1-a", 1, 7),
        ("s1-b", 1, 7),
        ("s2-a", 2, 1),
        ("s2-b", 2, 1),
    ]


def test_a_whole_rerun_replaces_every_shard_and_shard_0_drops_stale_shards(
    lake: DeltaLake,
) -> None:
    for index in range(4):
        land(lake, (index, 4), [f"s{index}"])
    # The run id landed again in 2 shards: shard 0 also takes shards 2 and 3 of the first.
    land(lake, (0, 2), ["s0", "s2"], followers=5)
    land(lake, (1, 2), ["s1", "s3"], followers=5)
    assert landed(lake) == [("s0", 0, 5), ("s1", 1, 5), ("s2", 0, 5), ("s3", 1, 5)]
    land(lake, None, ["all"], followers=9)  # unsharded: the whole run's rows
    assert landed(lake) == [("all", None, 9)]


def test_a_shards_run_record_carries_shard_and_credential_and_replaces_only_itself(
    lake: DeltaLake,
) -> None:
    def record(shard: int, requests: int) -> run_log.RunRecord:
        return run_log.record_counts(
            "run-1",
            "x",
            AT,
            AT,
            {"ok": 2},
            {"api"},
            run_log.Usage(requests),
            shard=shard,
            credential=f"X_BEARER_TOKENS[{shard}]",
        )

    write_run_record(lake, record(0, 1), ShardSpec(0, 2))
    write_run_record(lake, record(1, 1), ShardSpec(1, 2))
    write_run_record(lake, record(1, 5), ShardSpec(1, 2))
    table = DeltaTable(lake.table_uri(RUN_LOG)).to_pyarrow_table()
    got = sorted((r["shard"], r["credential"], r["requests"]) for r in table.to_pylist())
    assert got == [(0, "X_BEARER_TOKENS[0]", 1), (1, "X_BEARER_TOKENS[1]", 5)]
    assert run_log.from_rows(table.sort_by("shard")) == [record(0, 1), record(1, 5)]
    with pytest.raises(Exception, match="another shard"):
        write_run_record(lake, record(1, 1), ShardSpec(0, 2))


def test_a_lake_of_issue_14_gains_the_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    """Tables created as issue 14 did (no `shard`, no `credential`, statistics of run_id and
    the time only): the next writer adds the columns and the statistics property, the old
    rows read with a null shard, and shards then land side by side."""
    lake = delta_lake_of(WarehouseLayout.at(tmp_path / "warehouse"))
    old_stats = {"run_id,observed_at": OBSERVATIONS, "run_id,started_at": RUN_LOG}
    for stats, dataset in old_stats.items():
        old_row_schema = pa.schema(
            [field for field in dataset.row_schema if field.name not in ("shard", "credential")]
        )
        old_schema = old_row_schema.append(dataset.table_schema.field("date"))
        DeltaTable.create(
            lake.table_uri(dataset),
            old_schema,
            partition_by=list(PARTITION_COLUMNS),
            configuration={"delta.dataSkippingStatsColumns": stats},
        )
    old = with_date(
        pa.Table.from_pylist(
            [{**row, "shard": None} for row in _plain(rows(["old"], run_id="run-0"))],
            schema=OBSERVATIONS.row_schema,
        ),
        OBSERVATIONS,
        AT.date(),
    ).drop_columns(["shard"])
    write_deltalake(lake.table_uri(OBSERVATIONS), old, mode="append")

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda index: land(lake, (index, 4), [f"s{index}"]), range(4)))
    write_run_record(
        lake,
        run_log.record_counts(
            "run-1", "x", AT, AT, {"ok": 4}, {"api"}, run_log.Usage(1), shard=0, credential=None
        ),
        ShardSpec(0, 1),
    )

    for stats, dataset in old_stats.items():
        table = DeltaTable(lake.table_uri(dataset))
        assert table.metadata().configuration["delta.dataSkippingStatsColumns"] == (
            f"{stats},shard"
        )
        assert {field.name for field in table.schema().fields} >= set(dataset.table_schema.names)
    assert landed(lake) == [("s0", 0, 1), ("s1", 1, 1), ("s2", 2, 1), ("s3", 3, 1)]
    with connect() as connection:
        relation = snapshot_relation(lake.snapshot(OBSERVATIONS))
        got = connection.sql(f"select run_id, shard from ({relation}) order by all").fetchall()
    assert got == [("run-0", None), ("run-1", 0), ("run-1", 1), ("run-1", 2), ("run-1", 3)]


def _plain(observations: list[Observation]) -> list[dict[str, object]]:
    return [
        {name: getattr(row, name) for name in OBSERVATIONS.row_schema.names} for row in observations
    ]
