"""DuckDB reads an `s3://` lake (issue 14, item 4): a moto S3 server on 127.0.0.1, started and
stopped by each test and configured only by the AWS_* variables; real Delta tables landed by
`Landing`, real DuckDB connections reading them through `lake_filesystem`."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import moto.settings
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable
from moto.server import ThreadedMotoServer

from followerledger.catalog import STORAGE_VERSION, publish
from followerledger.cli import main
from followerledger.delta_lake import OBSERVATIONS, S3_OPTIONS, DeltaLake, delta_lake_of
from followerledger.lake_filesystem import (
    LakeUnreachable,
    lake_read_failure,
    readable_lake_prefix,
    register_lake_filesystem,
    s3_filesystem,
)
from followerledger.landing import Landing
from followerledger.layout import WarehouseLayout
from followerledger.models.duckdb_sql import connect, literal, snapshot_relation
from followerledger.models.session import ModelSession
from followerledger.observation import Observation
from followerledger.query import QueryRefused, open_warehouse, run_query
from tests.moto_server import KEY_ID, SECRET, create_bucket, endpoint, iam_key, moto_s3, use_s3

AT = datetime(2026, 11, 26, 23, 59, tzinfo=UTC)
LATER = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def rows(n: int, run_id: str, platform: str, at: datetime) -> list[Observation]:
    return [
        Observation(
            run_id=run_id,
            observed_at=at,
            platform=platform,
            handle=f"{platform}-h{i}",
            status="ok" if i % 4 else "not_found",
            source="api",
            account_id=f"{platform}{i}",
            followers=100 + i if i % 4 else None,
        )
        for i in range(n)
    ]


def land(lake: DeltaLake, platform: str, run_id: str, at: datetime, n: int) -> None:
    landing = Landing(lake, platform, run_id, at)
    landing.add(rows(n, run_id, platform, at))
    landing.commit()


def sorted_rows(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted((tuple(row.values()) for row in table.to_pylist()), key=repr)


class S3Lake:
    """A warehouse on local disk whose lake is a Delta lake in a new bucket of a moto server."""

    def __init__(self, server: ThreadedMotoServer, root: Path) -> None:
        self.server = server
        self.url = endpoint(server)
        self.bucket = create_bucket(self.url)
        self.uri = f"s3://{self.bucket}/prefix"
        self.layout = WarehouseLayout.at(root / "warehouse", self.uri)
        self.lake = delta_lake_of(self.layout)

    def land_some(self) -> None:
        """Three commits over two platforms and two days, one a re-run replacing its rows."""
        land(self.lake, "x", "run-1", AT, 7)
        land(self.lake, "bluesky", "run-1", AT, 5)
        land(self.lake, "x", "run-2", LATER, 6)
        land(self.lake, "x", "run-2", LATER, 4)  # the re-run: 4 rows replace its 6

    def table(self) -> pa.Table:
        """Every row as delta-rs reads the table (the truth the DuckDB reads must equal)."""
        held = DeltaTable(self.lake.table_uri(OBSERVATIONS), storage_options=S3_OPTIONS)
        return held.to_pyarrow_table()

    def write_catalog(self) -> Path:
        """A catalog file holding an `observations` view over the table's current files."""
        catalog = self.layout.catalog
        catalog.parent.mkdir(parents=True, exist_ok=True)
        self.layout.marts.mkdir(parents=True, exist_ok=True)
        connection = connect(lake=self.layout)  # creating the view reads the files' footers
        try:
            connection.execute(
                f"attach {literal(str(catalog))} as ledger "
                f"(storage_version {literal(STORAGE_VERSION)})"
            )
            connection.execute("use ledger")
            relation = snapshot_relation(self.lake.snapshot(OBSERVATIONS))
            connection.execute(f"create view observations as {relation}")
            connection.execute("use memory")
            connection.execute("detach ledger")
        finally:
            connection.close()
        return catalog


@pytest.fixture
def s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Lake]:
    with moto_s3() as server:
        use_s3(monkeypatch, endpoint(server))
        yield S3Lake(server, tmp_path)


def one_line_without_keys(error: BaseException, *secrets: str) -> str:
    text = str(error)
    assert "\n" not in text
    assert "Traceback" not in text
    for secret in (SECRET, KEY_ID, *secrets):
        assert secret not in text
        assert secret not in repr(error)
    return text


def test_a_model_session_reads_exactly_the_tables_rows(s3: S3Lake) -> None:
    s3.land_some()
    snapshot = s3.lake.snapshot(OBSERVATIONS)
    assert all(f.path.startswith(f"{s3.uri}/observations/") for f in snapshot.files)
    expected = s3.table()
    assert expected.num_rows == 7 + 5 + 4
    session = ModelSession(threads=1, lake=s3.layout)
    try:
        session.bind_sql("observations", snapshot_relation(snapshot))
        read = session.query("select * from observations")
    finally:
        session.close()
    assert sorted(read.column_names) == sorted(expected.column_names)
    assert sorted_rows(read.select(expected.column_names)) == sorted_rows(expected)


def test_without_the_registered_filesystem_duckdb_cannot_read_the_lake(s3: S3Lake) -> None:
    s3.land_some()
    relation = snapshot_relation(s3.lake.snapshot(OBSERVATIONS))
    connection = duckdb.connect()
    try:
        # Offline there is no httpfs to fetch: without the filesystem the read must fail.
        connection.execute("set autoinstall_known_extensions = false")
        with pytest.raises(duckdb.Error):
            connection.sql(f"select count(*) from ({relation})").fetchall()
        register_lake_filesystem(connection, s3.uri)
        assert connection.list_filesystems() == ["s3"]
        counted = connection.sql(f"select count(*) from ({relation})").fetchall()
    finally:
        connection.close()
    assert counted == [(s3.table().num_rows,)]


def test_a_confined_warehouse_connection_reads_the_lake_and_nothing_outside(
    s3: S3Lake, tmp_path: Path
) -> None:
    s3.land_some()
    catalog = s3.write_catalog()
    outside = tmp_path / "outside.parquet"
    pq.write_table(pa.table({"a": [1]}), outside)
    other_bucket = create_bucket(s3.url)
    pq.write_table(pa.table({"a": [1]}), f"{other_bucket}/x.parquet", filesystem=s3_filesystem())
    pq.write_table(
        pa.table({"a": [1]}), f"{s3.bucket}/prefix-other/x.parquet", filesystem=s3_filesystem()
    )
    connection = open_warehouse(catalog, [s3.layout.marts], s3.uri)
    try:
        assert connection.sql("select count(*) from observations").fetchall() == [
            (s3.table().num_rows,)
        ]
        for path in (
            str(outside),
            f"s3://{other_bucket}/x.parquet",
            f"s3://{s3.bucket}/prefix-other/x.parquet",
        ):
            with pytest.raises(duckdb.PermissionException):
                connection.sql(f"select * from read_parquet({literal(path)})").fetchall()
        with pytest.raises(duckdb.Error, match="lock"):
            connection.execute("set enable_external_access = true")
    finally:
        connection.close()
    unconfined = open_warehouse(catalog, lake=s3.uri)  # as the report opens it
    try:
        assert unconfined.sql("select count(*) from observations").fetchall() == [
            (s3.table().num_rows,)
        ]
    finally:
        unconfined.close()
    assert readable_lake_prefix(s3.uri + "/") == f"s3://{s3.bucket}/prefix/"
    with pytest.raises(QueryRefused):
        run_query(catalog, f"select * from read_parquet({literal(str(outside))})", [], s3.uri)


def test_followerledger_query_reads_the_s3_lake(
    s3: S3Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.land_some()
    s3.write_catalog()
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(s3.layout.warehouse))
    monkeypatch.setenv("FOLLOWERLEDGER_LAKE", s3.uri)
    sql = "select platform, count(*) as n from observations group by platform order by platform"
    result = CliRunner().invoke(main, ["query", sql, "--format", "csv"])
    counts = s3.table().group_by("platform").aggregate([("run_id", "count")]).to_pylist()
    expected = "".join(
        f"{row['platform']},{row['run_id_count']}\n"
        for row in sorted(counts, key=lambda r: str(r["platform"]))
    )
    assert (result.exit_code, result.stdout) == (0, "platform,n\n" + expected)


def test_publishing_the_catalog_registers_the_lake_filesystem(s3: S3Lake) -> None:
    published = publish(s3.layout, None)
    assert published == s3.layout.catalog
    assert published.exists()


def test_a_down_endpoint_is_one_line_naming_the_lake_and_the_endpoint_setting(
    s3: S3Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.land_some()
    catalog = s3.write_catalog()
    relation = snapshot_relation(s3.lake.snapshot(OBSERVATIONS))
    # Both registered while the store is up; it goes away under them.
    session = ModelSession(threads=1, lake=s3.layout)
    connection = connect(lake=s3.layout)
    s3.server.stop()
    try:
        with pytest.raises(LakeUnreachable) as during:
            session.query(f"select count(*) from ({relation})")
        assert "AWS_ENDPOINT_URL" in one_line_without_keys(during.value)
        with pytest.raises(duckdb.Error) as raw:
            connection.sql(f"select count(*) from ({relation})").fetchall()
    finally:
        session.close()
        connection.close()
    assert SECRET not in str(raw.value)
    assert KEY_ID not in str(raw.value)
    failure = lake_read_failure(s3.layout, raw.value)
    assert failure is not None
    assert str(failure) == str(during.value)
    for opening in (
        lambda: ModelSession(threads=1, lake=s3.layout),
        lambda: open_warehouse(catalog, [s3.layout.marts], s3.uri),
    ):
        with pytest.raises(LakeUnreachable) as raised:
            opening()
        text = one_line_without_keys(raised.value)
        assert s3.uri in text
        assert "AWS_ENDPOINT_URL" in text
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(s3.layout.warehouse))
    monkeypatch.setenv("FOLLOWERLEDGER_LAKE", s3.uri)
    result = CliRunner().invoke(main, ["query", "select count(*) from observations"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert s3.uri in result.stderr
    assert "AWS_ENDPOINT_URL" in result.stderr
    assert SECRET not in result.output


def test_a_wrong_key_is_one_line_naming_the_lake_and_the_key_settings(
    s3: S3Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.land_some()
    catalog = s3.write_catalog()
    key_id, secret = iam_key(s3.url)
    # From here moto checks every request's signature against its IAM users' keys.
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    use_s3(monkeypatch, s3.url, key_id, secret)
    connection = open_warehouse(catalog, [s3.layout.marts], s3.uri)
    try:
        rows_read = connection.sql("select count(*) from observations").fetchall()
    finally:
        connection.close()
    assert rows_read == [(s3.table().num_rows,)]  # the right key reads
    wrong = "wrong-secret-never-shown"
    use_s3(monkeypatch, s3.url, key_id, wrong)
    for opening in (
        lambda: ModelSession(threads=1, lake=s3.layout),
        lambda: open_warehouse(catalog, [s3.layout.marts], s3.uri),
    ):
        with pytest.raises(LakeUnreachable) as raised:
            opening()
        text = one_line_without_keys(raised.value, secret, wrong)
        assert s3.uri in text
        assert "AWS_SECRET_ACCESS_KEY" in text
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(s3.layout.warehouse))
    monkeypatch.setenv("FOLLOWERLEDGER_LAKE", s3.uri)
    result = CliRunner().invoke(main, ["query", "select count(*) from observations"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "AWS_ACCESS_KEY_ID" in result.stderr
    assert wrong not in result.output
    assert secret not in result.output


def test_the_filesystem_holds_no_key(s3: S3Lake) -> None:
    made = s3_filesystem()
    for shown in (repr(made), str(made), pickle.dumps(made).decode("latin-1")):
        assert SECRET not in shown
        assert KEY_ID not in shown


def test_a_local_lake_needs_no_filesystem(tmp_path: Path) -> None:
    connection = duckdb.connect()
    try:
        register_lake_filesystem(connection, WarehouseLayout.at(tmp_path))
        register_lake_filesystem(connection, (tmp_path / "lake").as_uri())
        assert connection.list_filesystems() == []
    finally:
        connection.close()
