"""The same snapshot on an S3 lake versus a local one: the flow's wall time (no target).

An S3-compatible store is moto in server mode on 127.0.0.1 (a thread of the bench process,
started and stopped here; the pattern of `tests/moto_server.py`, which bench must not
import), reached only through the standard AWS_* variables, as a deployment configures an
S3 lake (`FOLLOWERLEDGER_LAKE=s3://bucket/lake`). Each lake gets a first run (it creates
the tables and resolves the handles), then timed runs of the same watchlist through the
emulator, with a real Prefect server, each flow run in a fresh process (`bench.flow_run`).
Afterwards each lake's observations table must hold every account once per run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from moto.server import ThreadedMotoServer
from pyarrow import fs as pafs

from bench.snapshot_scale import (
    Emulator,
    bench_server,
    emulator_urls,
    flow_run,
    free_port,
    settle,
    write_watchlist,
)
from followerledger.delta_lake import OBSERVATIONS, S3_OPTIONS, DeltaLake
from followerledger.layout import LAKE_ENV
from followerledger.prefect_server import client_environment

#: The emulated store's region and keys: moto accepts any key; these are no secret.
REGION: Final = "eu-west-1"
KEY_ID: Final = "AKIABENCHKEY00000001"
SECRET: Final = "bench-secret"


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 at a free port; its endpoint URL. Stopped on exit."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def create_bucket(url: str) -> str:
    """A new bucket (lower case, more than one letter: moto's rules); its name."""
    bucket = f"lake-{uuid.uuid4().hex[:10]}"
    store = pafs.S3FileSystem(
        endpoint_override=url.removeprefix("http://"),
        scheme="http",
        region=REGION,
        access_key=KEY_ID,
        secret_key=SECRET,
        allow_bucket_creation=True,
    )
    store.create_dir(bucket)
    return bucket


def aws_environment(url: str) -> dict[str, str]:
    """The AWS_* variables of the emulated store (and nothing of the caller's own)."""
    return {
        "AWS_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": REGION,
        "AWS_ALLOW_HTTP": "true",
    }


def landed_rows(lake_uri: str, url: str | None) -> int:
    """Rows in a lake's observations table (an S3 lake read with the store's options)."""
    if url is None:
        return DeltaLake(lake_uri).snapshot(OBSERVATIONS).rows
    options = {
        **S3_OPTIONS,
        "aws_endpoint_url": url,
        "aws_access_key_id": KEY_ID,
        "aws_secret_access_key": SECRET,
        "aws_region": REGION,
        "aws_allow_http": "true",
    }
    return DeltaLake(lake_uri, options).snapshot(OBSERVATIONS).rows


def run(quick: bool = False) -> dict[str, Any]:
    """Print and return the median wall time of a snapshot on each lake, and their ratio."""
    # The quick run skips the untimed first run: its figure is a smoke test, not a result.
    per_platform, repeat, warm = (50, 1, False) if quick else (2_500, 3, True)
    counts = {"x": per_platform, "bluesky": per_platform}
    accounts = sum(counts.values())
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-s3-") as folder, moto_s3() as url:
        root = Path(folder)
        server = bench_server()
        emulator = Emulator()
        try:
            bucket = create_bucket(url)
            lakes = {"local": str(root / "local/warehouse/lake"), "s3": f"s3://{bucket}/lake"}
            for name, lake_uri in lakes.items():
                environment = {
                    key: value for key, value in os.environ.items() if not key.startswith("AWS_")
                }
                environment.update(client_environment(server.api_url))
                environment.update(
                    {
                        "FOLLOWERLEDGER_WAREHOUSE": str(root / name / "warehouse"),
                        "FOLLOWERLEDGER_WATCHLIST": str(root / "watchlist.yaml"),
                        LAKE_ENV: lake_uri,
                        **emulator_urls(emulator.url),
                        "FOLLOWERLEDGER_RATE_BUDGETS": "x=100000/60,bluesky=100000/60",
                        "X_BEARER_TOKEN": "bench",
                        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
                    }
                )
                if name == "s3":
                    environment.update(aws_environment(url))
                (root / name).mkdir(parents=True, exist_ok=True)
                write_watchlist(root / "watchlist.yaml", counts)
                if warm:
                    settle(server.api_url)
                    flow_run(environment)  # creates the tables, resolves the handles
                times = []
                for _ in range(repeat):
                    settle(server.api_url)
                    times.append(flow_run(environment)["seconds"])
                seconds[name] = statistics.median(times)
                rows = landed_rows(lake_uri, url if name == "s3" else None)
                assert rows == accounts * (repeat + warm), f"{name} lake: {rows} rows"
        finally:
            emulator.stop()
    ratio = seconds["s3"] / seconds["local"]
    print(
        f"snapshot of {accounts:,} accounts (X and Bluesky, emulator, median of {repeat}): "
        f"local lake {seconds['local']:.2f} s, S3 lake (moto on 127.0.0.1) "
        f"{seconds['s3']:.2f} s -> {ratio:.2f}x (no target)"
    )
    return {
        "accounts": accounts,
        "local_s": seconds["local"],
        "s3_s": seconds["s3"],
        "s3_vs_local": ratio,
    }
