"""Shared by the s3 spikes: a moto S3 server on 127.0.0.1, a bucket, the AWS_* environment.

Not a spike itself. The server runs in a thread of the calling process; child processes reach
it over HTTP, so anything they need comes from the environment they inherit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator

import boto3
import pyarrow as pa
from moto.server import ThreadedMotoServer

KEY_ID = "AKIASPIKEKEYID000001"
SECRET = "spike-secret-DO-NOT-LEAK-0123456789abcdef"
REGION = "eu-west-1"

AWS_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_ALLOW_HTTP",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1:<free port>; yields its endpoint URL; stopped on exit."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def aws_environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": REGION,
        "AWS_ALLOW_HTTP": "true",
    }


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values` set (and nothing else AWS_* from outside), restored after."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    for k in saved:
        del os.environ[k]
    os.environ.update(values)
    try:
        yield
    finally:
        for k in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[k]
        os.environ.update(saved)


def new_bucket(endpoint: str) -> str:
    name = f"lake-{uuid.uuid4().hex[:10]}"
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        region_name=REGION,
    )
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    return name


def s3_client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        region_name=REGION,
    )


def observations(run: str, rows: int, platform: str = "x", day: str = "2026-12-01") -> pa.Table:
    """`rows` observation-like rows of one run, partition columns platform and date."""
    return pa.table(
        {
            "run_id": pa.array([run] * rows, pa.string()),
            "handle": pa.array([f"acct{i}" for i in range(rows)], pa.string()),
            "followers": pa.array(range(rows), pa.int64()),
            "platform": pa.array([platform] * rows, pa.string()),
            "date": pa.array([day] * rows, pa.string()),
        }
    )


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start
