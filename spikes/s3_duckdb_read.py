"""Q3: DuckDB reading the Delta table's current files on moto S3 without httpfs.

Measures (deltalake 1.6.6, duckdb 2.0.1, pyarrow 26, fsspec 2026.9):
  a. pyarrow.fs.S3FileSystem(endpoint_override=..., scheme="http") wrapped by fsspec's
     ArrowFSWrapper (protocol set to "s3"), duckdb.register_filesystem(fs), then
     read_parquet over DeltaTable.file_uris(): counts equal the Delta table's.
  b. the data files do NOT hold the partition columns (platform, date): read_parquet with
     hive_partitioning=false (what catalog views use today) loses them; hive_partitioning=true
     with hive_types restores them.
  c. the same read on a connection confined like query.py (allowed_directories,
     enable_external_access=false, lock_configuration=true).
  d. a persistent catalog file with a view over s3:// files, opened read-only by a new
     connection: without the registered filesystem, with it.
  e. the DuckDB CLI (duckdb-cli in the venv) on that catalog: what it says offline.

Run: .venv/bin/python spikes/s3_duckdb_read.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))

import deltalake
import duckdb
import fsspec
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake
from fsspec.implementations.arrow import ArrowFSWrapper
from s3_common import aws_environment, environment, moto_server, new_bucket, observations


class S3ArrowFS(ArrowFSWrapper):
    """fsspec over pyarrow's S3FileSystem, answering for s3:// (DuckDB routes by protocol)."""

    protocol = "s3"


def s3_filesystem_from_environment() -> S3ArrowFS:
    """The fsspec filesystem DuckDB gets, from the AWS_* environment only."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    scheme, _, host = (endpoint or "").partition("://")
    arrow = pafs.S3FileSystem(
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=os.environ.get("AWS_REGION", "us-east-1"),
        endpoint_override=host or None,
        scheme=scheme or "https",
    )
    return S3ArrowFS(arrow)


def count(connection: duckdb.DuckDBPyConnection, files: list[str], hive: bool) -> tuple:
    listed = ", ".join(f"'{f}'" for f in files)
    options = (
        "hive_partitioning = true, hive_types = {'date': 'DATE'}"
        if hive
        else "hive_partitioning = false"
    )
    relation = connection.sql(f"select * from read_parquet([{listed}], {options})")
    return relation.columns, connection.execute(
        f"select count(*) from read_parquet([{listed}], {options})"
    ).fetchall()[0][0]


def main() -> None:
    print(
        "deltalake",
        deltalake.__version__,
        "duckdb",
        duckdb.__version__,
        "fsspec",
        fsspec.__version__,
        "pyarrow",
        pa.__version__,
    )
    tmp = tempfile.mkdtemp(prefix="s3-duckdb-")
    try:
        with moto_server() as endpoint, environment(aws_environment(endpoint)):
            bucket = new_bucket(endpoint)
            uri = f"s3://{bucket}/prefix/observations"
            for n, (platform, day) in enumerate(
                [("x", "2026-11-30"), ("x", "2026-12-01"), ("bluesky", "2026-12-01")]
            ):
                write_deltalake(
                    uri,
                    observations(f"r{n}", 1000, platform, day),
                    mode="append",
                    partition_by=["platform", "date"],
                )
            dt = DeltaTable(uri)
            files = dt.file_uris()
            expected = dt.to_pyarrow_table().num_rows
            assert expected == 3000 and len(files) == 3
            print("file_uris()[0]:", files[0])

            fs = s3_filesystem_from_environment()
            schema = pq.read_schema(files[0].removeprefix("s3://"), filesystem=fs.fs)
            assert "platform" not in schema.names and "date" not in schema.names
            print("(b) a data file's own columns:", schema.names)

            # a/b. plain connection
            con = duckdb.connect()
            con.register_filesystem(fs)
            cols, n = count(con, files, hive=False)
            assert n == expected and "platform" not in cols
            cols, n = count(con, files, hive=True)
            assert n == expected and {"platform", "date"} <= set(cols)
            described = con.sql(
                "describe select * from read_parquet("
                f"['{files[0]}'], hive_partitioning = true, hive_types = {{'date': 'DATE'}})"
            ).fetchall()
            types = {row[0]: row[1] for row in described}
            print(
                f"(a) read_parquet over file_uris() through the registered fs: {n} rows; "
                f"hive columns typed {types['platform']}, {types['date']}"
            )
            con.close()

            # a'. the same with pyarrow's own reading of the environment (AWS_ENDPOINT_URL with
            # its http scheme, keys, region): FileSystem.from_uri, no explicit options.
            con = duckdb.connect()
            con.register_filesystem(S3ArrowFS(pafs.FileSystem.from_uri(uri)[0]))
            _, n = count(con, files, hive=True)
            assert n == expected
            print(f"(a') fs from pafs.FileSystem.from_uri(uri) (environment only): {n} rows")
            con.close()

            # c. confined like query.py
            con = duckdb.connect()
            con.register_filesystem(fs)
            con.execute("set allowed_directories = $d", {"d": [tmp]})
            con.execute("set enable_external_access = false")
            con.execute("set lock_configuration = true")
            try:
                _, n = count(con, files, hive=True)
                confined = f"works ({n} rows)"
            except duckdb.Error as exc:
                confined = f"refused: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
            print("(c) confined, s3:// not in allowed_directories:", confined)
            con.close()
            con = duckdb.connect()
            con.register_filesystem(fs)
            con.execute("set allowed_directories = $d", {"d": [tmp, f"s3://{bucket}/prefix/"]})
            con.execute("set enable_external_access = false")
            con.execute("set lock_configuration = true")
            try:
                _, n = count(con, files, hive=True)
                confined_allowed = f"works ({n} rows)"
                assert n == expected
            except duckdb.Error as exc:
                confined_allowed = (
                    f"refused: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
                )
            print("(c) confined, s3://bucket/prefix/ in allowed_directories:", confined_allowed)
            try:
                con.sql(
                    f"select count(*) from read_parquet('s3://{bucket}-other/x.parquet')"
                ).fetchall()
                outside = "read outside allowed (unexpected)"
            except duckdb.Error as exc:
                outside = f"refused: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            print("(c) confined, another bucket:", outside)
            try:
                con.register_filesystem(fsspec.filesystem("memory"))
                late = "a filesystem could still be registered after lock_configuration"
            except duckdb.Error as exc:
                late = f"refused after lock: {str(exc).splitlines()[0][:100]}"
            print("(c)", late)
            con.close()

            # d. persistent catalog with s3:// views
            catalog = os.path.join(tmp, "followerledger.duckdb")
            con = duckdb.connect()  # written as catalog.py does, for the pinned 1.5.6 CLI
            con.execute(f"attach '{catalog}' as ledger (storage_version 'v1.4.0')")
            con.execute("use ledger")
            con.register_filesystem(fs)
            listed = ", ".join(f"'{f}'" for f in files)
            con.execute(
                f"create view observations as select * from read_parquet([{listed}], "
                "hive_partitioning = true, hive_types = {'date': 'DATE'})"
            )
            con.close()
            con = duckdb.connect(catalog, read_only=True)
            try:
                con.sql("select count(*) from observations").fetchall()
                without = "works (unexpected)"
            except duckdb.Error as exc:
                without = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            print("(d) new read-only connection, no filesystem registered:", without)
            con.close()
            con = duckdb.connect(catalog, read_only=True)
            con.register_filesystem(fs)
            con.execute("set allowed_directories = $d", {"d": [tmp, f"s3://{bucket}/prefix/"]})
            con.execute("set enable_external_access = false")
            con.execute("set lock_configuration = true")
            n = con.execute("select count(*) from observations").fetchall()[0][0]
            assert n == expected
            print(f"(d) new read-only connection, filesystem registered then confined: {n} rows")
            con.close()

            # e. the DuckDB CLI, offline
            cli = shutil.which("duckdb", path=os.path.dirname(sys.executable))
            if cli:
                done = subprocess.run(
                    [cli, "-readonly", catalog, "-c", "select count(*) from observations"],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                said = (done.stderr or done.stdout).strip().splitlines()
                print(f"(e) duckdb CLI (rc {done.returncode}):", " | ".join(said[:3])[:300])
            else:
                print("(e) no duckdb CLI in the venv")
        print("OK")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
