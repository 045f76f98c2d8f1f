"""The whole pipeline on an S3 lake (issue 14, item 4): `FOLLOWERLEDGER_LAKE=s3://…` on a moto
server on 127.0.0.1 (started and stopped by each test, configured only by the AWS_* variables),
the marts and catalog local; the real CLI commands against the emulator and a Prefect test
server; concurrent landings and a kill during a commit in child processes."""

from __future__ import annotations

import asyncio
import itertools
import json
import multiprocessing
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner, Result
from deltalake import DeltaTable
from moto.server import ThreadedMotoServer
from prefect.client.orchestration import get_client

from followerledger.cli import main
from followerledger.delta_lake import (
    OBSERVATIONS,
    RUN_LOG,
    DeltaDataset,
    DeltaLake,
    DeltaLakeError,
    delta_lake_of,
)
from followerledger.landing import write_observations
from followerledger.layout import WarehouseLayout
from followerledger.observation import Observation
from tests import s3_landing
from tests.conftest import Workspace
from tests.kills import kill_at
from tests.moto_server import KEY_ID, REGION, SECRET, create_bucket, endpoint, moto_s3, use_s3

PREFIX = "ledger/lake"
#: Two closed days of made-up snapshot runs, three runs a day on each platform.
PAST_DAYS = (date(2026, 11, 20), date(2026, 11, 21))
PAST_RUNS_A_DAY = 3


class S3Warehouse:
    """A local warehouse (the workspace's) whose lake is a prefix of a new moto bucket."""

    def __init__(self, server: ThreadedMotoServer) -> None:
        self.server = server
        self.url = endpoint(server)
        self.bucket = create_bucket(self.url)
        self.uri = f"s3://{self.bucket}/{PREFIX}"

    @property
    def layout(self) -> WarehouseLayout:
        return WarehouseLayout.from_environment()

    @property
    def lake(self) -> DeltaLake:
        return delta_lake_of(self.layout)

    def table(self, dataset: DeltaDataset) -> DeltaTable:
        """The table as an outside reader opens it (delta-rs, the AWS_* environment)."""
        return DeltaTable(f"{self.uri}/{dataset.name}", storage_options=self.lake.storage_options)

    def rows(self, dataset: DeltaDataset) -> int:
        return int(self.table(dataset).to_pyarrow_table().num_rows)

    def objects(self, under: str = PREFIX) -> dict[str, bytes]:
        """Every object under `under` in the bucket, read with boto3."""
        client = boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )
        found: dict[str, bytes] = {}
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=under
        ):
            for item in page.get("Contents", []):
                key = str(item["Key"])
                found[key] = client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return found

    def data_files(self, dataset: DeltaDataset) -> set[str]:
        """The Parquet data files of a table on the bucket (`s3://…` paths)."""
        table_prefix = f"{PREFIX}/{dataset.name}/"
        return {
            f"s3://{self.bucket}/{key}"
            for key in self.objects(table_prefix)
            if key.endswith(".parquet") and "/_delta_log/" not in key
        }


@pytest.fixture
def s3(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Warehouse]:
    with moto_s3() as server:
        use_s3(monkeypatch, endpoint(server))
        store = S3Warehouse(server)
        monkeypatch.setenv("FOLLOWERLEDGER_LAKE", store.uri)
        yield store


def invoke(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def query(sql: str) -> list[dict[str, object]]:
    answer: list[dict[str, object]] = json.loads(invoke("query", sql, "--format", "json").stdout)
    return answer


def count(relation: str) -> int:
    [row] = query(f"select count(*) as n from {relation}")
    return int(str(row["n"]))


def land_past_runs(lake: DeltaLake) -> int:
    """Snapshot runs on closed days, landed straight into the lake; the rows landed."""
    landed = 0
    for day in PAST_DAYS:
        for hour in range(PAST_RUNS_A_DAY):
            started = datetime(day.year, day.month, day.day, 6 + hour, tzinfo=UTC)
            run_id = started.strftime("%Y-%m-%dT%H")
            for platform, handles in (("x", ["DellOutlet", "HP"]), ("bluesky", ["dell.com"])):
                rows = [
                    Observation(
                        run_id=run_id,
                        observed_at=started,
                        platform=platform,
                        handle=handle,
                        status="ok",
                        source="api",
                        account_id=f"{platform}-{handle}",
                        followers=1000 + 10 * index + hour,
                        requested_handle=handle,
                    )
                    for index, handle in enumerate(handles)
                ]
                assert write_observations(lake, platform, run_id, started, rows) is not None
                landed += len(rows)
    return landed


def history_csv(path: Path) -> int:
    """An import file of two earlier days; its row count."""
    lines = ["observed_at,platform,handle,followers"]
    for day, followers in ((date(2026, 11, 10), 900), (date(2026, 11, 11), 905)):
        lines.append(f"{day.isoformat()}T12:00:00Z,x,DellOutlet,{followers}")
        lines.append(f"{day.isoformat()}T12:00:00Z,bluesky,dell.com,{followers // 3}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


ANSWERS = (
    "select platform, date, count(*) as n, sum(followers) as followers "
    "from observations group by all order by all",
    "select platform, count(*) as n, max(followers) as followers "
    "from daily_followers group by all order by all",
    "select run_id, platform from run_log order by all",
)


PAGE = 200


def prefect_records() -> str:
    """Every log message, flow-run parameter set and artifact the Prefect server holds (read
    page by page: the server answers at most a page at a time)."""

    async def read() -> str:
        found: list[str] = []
        async with get_client() as client:
            for offset in itertools.count(0, PAGE):
                logs = await client.read_logs(limit=PAGE, offset=offset)
                found += [log.message for log in logs]
                if len(logs) < PAGE:
                    break
            for offset in itertools.count(0, PAGE):
                runs = await client.read_flow_runs(limit=PAGE, offset=offset)
                found += [json.dumps(run.parameters, default=str) for run in runs]
                if len(runs) < PAGE:
                    break
            for offset in itertools.count(0, PAGE):
                artifacts = await client.read_artifacts(limit=PAGE, offset=offset)
                found += [json.dumps(artifact.data, default=str) for artifact in artifacts]
                if len(artifacts) < PAGE:
                    break
        return "\n".join(found)

    return asyncio.run(read())


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_every_command_works_with_the_lake_on_s3(s3: S3Warehouse, workspace: Workspace) -> None:
    outputs: list[str] = []
    past = land_past_runs(s3.lake)

    snapshot = invoke("snapshot")
    outputs.append(snapshot.output)
    assert "landed" in snapshot.output
    csv = workspace.root / "history.csv"
    imported = history_csv(csv)
    outputs.append(invoke("import", str(csv)).output)
    outputs.append(invoke("refresh").output)

    # The catalog (local) reads exactly the S3 tables' rows: 7 watched accounts per snapshot.
    assert s3.rows(OBSERVATIONS) == past + 7 + imported
    assert count("observations") == s3.rows(OBSERVATIONS)
    assert count("run_log") == s3.rows(RUN_LOG)
    assert s3.rows(RUN_LOG) == 2  # the snapshot's two platforms
    assert count("daily_followers") > 0
    assert s3.layout.catalog.is_file()
    before = [query(sql) for sql in ANSWERS]

    today = datetime.now(UTC).date()
    files = s3.lake.snapshot(OBSERVATIONS).files
    closed = {(f.platform, f.day) for f in files if f.day < today}
    assert len(closed) == 8  # 2 past days and 2 imported ones, x and bluesky each
    assert len(files) > len(closed) + 1
    outputs.append(invoke("compact", "--grace-hours", "0").output)
    after = s3.lake.snapshot(OBSERVATIONS).files
    per_day: dict[tuple[str, date], int] = {}
    for file in after:
        per_day[(file.platform, file.day)] = per_day.get((file.platform, file.day), 0) + 1
    assert {key: n for key, n in per_day.items() if key[1] < today} == dict.fromkeys(closed, 1)
    assert s3.data_files(OBSERVATIONS) == {f.path for f in after}  # vacuumed, grace 0
    assert [query(sql) for sql in ANSWERS] == before
    assert count("observations") == s3.rows(OBSERVATIONS)
    outputs.append(invoke("refresh").output)
    assert [query(sql) for sql in ANSWERS] == before

    report = invoke("report")
    outputs.append(report.output)
    assert s3.layout.report.is_file()
    assert "<html" in s3.layout.report.read_text(encoding="utf-8").lower()

    stored = [*s3.objects().values()]
    assert any(key.endswith(".json") for key in s3.objects())
    local = [path.read_bytes() for path in workspace.root.rglob("*") if path.is_file()]
    records = prefect_records()
    assert "Beginning flow run" in records  # the snapshot's flow run was recorded
    for secret in (SECRET, KEY_ID):
        assert not any(secret in text for text in outputs)
        assert not any(secret.encode() in blob for blob in stored + local)
        assert secret not in records


def test_two_snapshots_landing_at_once_both_commit(s3: S3Warehouse) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    children = [
        context.Process(target=s3_landing.land_together, args=(barrier, "x", run_id, 200))
        for run_id in ("run-a", "run-b")
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert [child.exitcode for child in children] == [0, 0]
    rows = s3.table(OBSERVATIONS).to_pyarrow_table().to_pylist()
    assert len(rows) == 400
    assert len({(row["run_id"], row["handle"]) for row in rows}) == 400
    assert {row["run_id"] for row in rows} == {"run-a", "run-b"}
    assert s3.table(OBSERVATIONS).version() >= 1


def test_a_kill_during_a_commit_leaves_the_table_as_it_was(
    s3: S3Warehouse, workspace: Workspace
) -> None:
    assert s3_landing.land("x", "kept", 120) is not None
    version = s3.table(OBSERVATIONS).version()
    rows = s3.rows(OBSERVATIONS)
    argv = [sys.executable, "-m", "tests.s3_landing", "x", "killed", "300"]
    killed, _ = kill_at(argv, "pause:delta-commit", workspace.warehouse)
    assert killed
    assert (s3.table(OBSERVATIONS).version(), s3.rows(OBSERVATIONS)) == (version, rows)
    committed = s3_landing.land("x", "killed", 300)
    assert committed is not None
    assert committed > version
    assert s3.rows(OBSERVATIONS) == rows + 300
    s3.lake.vacuum(OBSERVATIONS, retention_hours=0)
    current = {file.path for file in s3.lake.snapshot(OBSERVATIONS).files}
    assert s3.data_files(OBSERVATIONS) == current
    assert sum(file.rows for file in s3.lake.snapshot(OBSERVATIONS).files) == rows + 300


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_store_gone_away_is_one_line_for_every_writing_command(
    s3: S3Warehouse,
    workspace: Workspace,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert s3_landing.land("x", "before", 10) is not None
    csv = workspace.root / "history.csv"
    history_csv(csv)
    # The store goes away: its endpoint becomes a port this test holds, bound and never
    # listening, so connections are refused. (Stopping the server and binding its port after
    # left a moment in which another test's moto server took the port, and answered 403.)
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    request.addfinalizer(held.close)
    server_url = f"http://127.0.0.1:{held.getsockname()[1]}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", server_url)
    with pytest.raises(DeltaLakeError) as raised:
        s3_landing.land("x", "after", 10)
    text = str(raised.value)
    assert "\n" not in text
    assert s3.uri in text
    assert "AWS_ENDPOINT_URL" in text
    assert server_url not in text
    for command in (["snapshot"], ["compact"], ["import", str(csv)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, result.output
        assert SECRET not in result.output
        assert KEY_ID not in result.output
        # One line, before a snapshot starts Prefect or any fetch.
        [line] = result.output.splitlines()
        assert line.startswith("followerledger: error: observations: cannot read the lake ")
        assert s3.uri in line
        assert "AWS_ENDPOINT_URL" in line
        assert server_url not in line  # delta-rs' text quotes the request URL


def test_migrate_refuses_an_s3_lake_before_reading_the_watchlist(
    s3: S3Warehouse, workspace: Workspace
) -> None:
    workspace.watchlist.write_text("brands: [not a mapping\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["migrate"])
    assert result.exit_code == 2
    assert result.output == (
        "followerledger: error: migrate works on a local lake only (an object store has no "
        "rename); migrate a local copy and upload it\n"
    )
    assert s3.objects() == {}  # nothing written to the bucket
