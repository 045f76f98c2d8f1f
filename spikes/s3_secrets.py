"""Q4: where the AWS keys of an S3 lake could leak, and redacting them.

Provokes errors and reprs with a recognisable key id and secret, and reports which carry them:
delta-rs errors (missing table, unreachable endpoint, bad option value, endpoint URL with
userinfo), reprs/pickles of DeltaTable, pyarrow S3FileSystem and the fsspec wrapper, DuckDB
errors through the registered filesystem. Then shows `redacted(text)`: urls.shown_url /
without_url_secrets for the endpoint plus the AWS_* secret values replaced, and asserts that
nothing survives it.

Run: .venv/bin/python spikes/s3_secrets.py
"""

from __future__ import annotations

import os
import pickle
import sys

sys.path.insert(0, os.path.dirname(__file__))

import deltalake
import duckdb
import pyarrow.fs as pafs
from deltalake import DeltaTable, write_deltalake
from fsspec.implementations.arrow import ArrowFSWrapper
from s3_common import (
    KEY_ID,
    SECRET,
    aws_environment,
    environment,
    moto_server,
    new_bucket,
    observations,
)

from followerledger.urls import shown_url, without_url_secrets

SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")


def redacted(text: str) -> str:
    """`text` with every AWS secret of the environment, and the endpoint's userinfo, as ***."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if endpoint:
        text = without_url_secrets(text, endpoint)
    for name in SECRET_VARIABLES:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def leaks(text: str) -> list[str]:
    return [name for name, value in (("key id", KEY_ID), ("secret", SECRET)) if value in text]


class S3ArrowFS(ArrowFSWrapper):
    protocol = "s3"


def main() -> None:
    print("deltalake", deltalake.__version__, "duckdb", duckdb.__version__)
    findings: list[tuple[str, str]] = []

    def probe(label: str, action) -> None:
        try:
            text = repr(action())
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
        findings.append((label, text))

    with moto_server() as endpoint:
        env = aws_environment(endpoint)
        bucket = new_bucket(endpoint)
        uri = f"s3://{bucket}/prefix/observations"
        with environment(env):
            write_deltalake(uri, observations("r", 10))
            probe("DeltaTable, table missing (env)", lambda: DeltaTable(f"s3://{bucket}/nope"))
        probe(
            "DeltaTable, table missing (storage_options)",
            lambda: DeltaTable(f"s3://{bucket}/nope", storage_options=env),
        )
        probe(
            "DeltaTable, endpoint unreachable (storage_options)",
            lambda: DeltaTable(
                uri,
                storage_options=env
                | {
                    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
                    "AWS_MAX_RETRIES": "0",
                    "AWS_RETRY_TIMEOUT": "1s",
                },
            ),
        )
        probe(
            "DeltaTable, bad option value",
            lambda: DeltaTable(uri, storage_options=env | {"AWS_ALLOW_HTTP": "maybe"}),
        )
        probe(
            "DeltaTable, secret as a bad option value",
            lambda: DeltaTable(uri, storage_options=env | {"AWS_ALLOW_HTTP": SECRET}),
        )
        userinfo = endpoint.replace("http://", f"http://{KEY_ID}:{SECRET}@")
        probe(
            "DeltaTable, endpoint URL with userinfo, unreachable",
            lambda: DeltaTable(
                uri,
                storage_options=env
                | {
                    "AWS_ENDPOINT_URL": userinfo.rsplit(":", 1)[0] + ":9",
                    "AWS_MAX_RETRIES": "0",
                    "AWS_RETRY_TIMEOUT": "1s",
                },
            ),
        )
        probe(
            "write_deltalake, bucket missing",
            lambda: write_deltalake(
                f"s3://{bucket}-missing/t", observations("r", 1), storage_options=env
            ),
        )
        table = DeltaTable(uri, storage_options=env)
        probe("repr(DeltaTable)", lambda: table)
        probe("DeltaTable._storage_options", lambda: getattr(table, "_storage_options", None))
        arrow = pafs.S3FileSystem(
            access_key=KEY_ID,
            secret_key=SECRET,
            region="eu-west-1",
            endpoint_override=endpoint.removeprefix("http://"),
            scheme="http",
        )
        probe("repr(pyarrow S3FileSystem)", lambda: arrow)
        probe("pickle of pyarrow S3FileSystem", lambda: pickle.dumps(arrow))
        wrapped = S3ArrowFS(arrow)
        probe("repr(ArrowFSWrapper)", lambda: wrapped)
        probe("ArrowFSWrapper.storage_options", lambda: wrapped.storage_options)
        con = duckdb.connect()
        con.register_filesystem(wrapped)
        probe(
            "DuckDB error, missing s3 file",
            lambda: con.sql(f"select * from read_parquet('s3://{bucket}/nope.parquet')").fetchall(),
        )
        probe(
            "DuckDB duckdb_settings()",
            lambda: con.sql(
                "select name, value from duckdb_settings() where value like '%" + SECRET[:12] + "%'"
            ).fetchall(),
        )
        con.close()

        with environment(env | {"AWS_ENDPOINT_URL": userinfo}):
            for label, text in findings:
                found = leaks(text)
                cleaned = redacted(text)
                assert not leaks(cleaned), (label, cleaned)
                print(
                    f"- {label}: {'LEAKS ' + ', '.join(found) if found else 'no secret'}"
                    f"  | {cleaned.splitlines()[0][:150] if cleaned else ''}"
                )
            for label, text in findings:
                if leaks(text) and not label.startswith("pickle"):
                    print(f"  {label}, redacted in full:")
                    print("    " + redacted(text).replace("\n", "\n    ")[:900])
            print("shown_url(endpoint with userinfo):", shown_url(userinfo))
            assert not leaks(shown_url(userinfo))
    print("OK: every finding is clean after redacted()")


if __name__ == "__main__":
    main()
