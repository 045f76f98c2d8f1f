"""An S3-compatible store for tests: moto in server mode on 127.0.0.1 (a thread of the test
process, started and stopped by the test), reached only through the standard AWS_* variables,
as delta-rs, pyarrow and `lake_filesystem` read them."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterator

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer
from pyarrow import fs as pafs

#: Recognisable, so a test can assert that neither ever shows up in an error or a repr.
KEY_ID = "AKIATESTKEY000000001"
SECRET = "test-secret-never-shown"
REGION = "eu-west-1"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def moto_s3() -> Iterator[ThreadedMotoServer]:
    """A moto S3 server on 127.0.0.1 at a free port (`endpoint(server)`), stopped on exit."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    # moto keeps its buckets per process, across servers: each server starts empty.
    requests.post(f"{endpoint(server)}/moto-api/reset", timeout=10).raise_for_status()
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):  # a test may have stopped it already
            server.stop()


def endpoint(server: ThreadedMotoServer) -> str:
    """The server's endpoint URL (what `AWS_ENDPOINT_URL` names)."""
    host, port = server.get_host_and_port()
    return f"http://{host}:{port}"


def use_s3(
    monkeypatch: pytest.MonkeyPatch, url: str, key_id: str = KEY_ID, secret: str = SECRET
) -> None:
    """The AWS_* environment for the store at `url`, and nothing from the developer's own."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_REGION": REGION,
        "AWS_ALLOW_HTTP": "true",
    }.items():
        monkeypatch.setenv(name, value)


def create_bucket(url: str, name: str | None = None) -> str:
    """A new bucket (lower case, more than one letter: moto's rules); its name."""
    bucket = name or f"lake-{uuid.uuid4().hex[:10]}"
    store = pafs.S3FileSystem(
        endpoint_override=url.removeprefix("http://"),
        scheme="http",
        region=REGION,
        allow_bucket_creation=True,
    )
    store.create_dir(bucket)
    return bucket


def iam_key(url: str) -> tuple[str, str]:
    """(key id, secret) of a new IAM user allowed everything on S3: what moto checks a
    signature against once its authentication is switched on
    (`moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0`)."""
    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )
    user = f"lake-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName=user, PolicyName="lake", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])
