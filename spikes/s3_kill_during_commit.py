"""Q2: SIGKILL a writer during its (streaming) write on moto S3; readers, the next writer, vacuum.

(a) a writer streams batches (like the landing: row groups as batches arrive, one commit at the
    end) with a small target_file_size so several data files are uploaded before the commit;
    it is SIGKILLed once 2 of its data files exist in the bucket. Then: the table opens at the
    old version, row count unchanged, the next writer commits, no run doubled, the killed
    run's files are orphans that vacuum(full=True, retention 0) deletes, and only them.
(b) 6 trials of SIGKILL at a random moment (0-1.2 s) into a writer doing quick appends:
    after each, every run is in the table wholly (ROWS rows) or not at all; versions match.

Run: .venv/bin/python spikes/s3_kill_during_commit.py
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(__file__))

import deltalake
from deltalake import DeltaTable, write_deltalake
from s3_common import (
    aws_environment,
    environment,
    moto_server,
    new_bucket,
    observations,
    s3_client,
)

HERE = os.path.dirname(os.path.abspath(__file__))

STREAMING_WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {here!r})
    import pyarrow as pa
    from deltalake import write_deltalake
    from s3_common import observations
    schema = observations("x", 1).schema
    def batches():
        for i in range(400):
            yield from observations("killed", 5000).to_batches()
            time.sleep(0.02)
    reader = pa.RecordBatchReader.from_batches(schema, batches())
    write_deltalake({uri!r}, reader, mode="append", partition_by=["platform", "date"],
                    target_file_size=256 * 1024)
    print("COMMITTED", flush=True)
""")

QUICK_WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {here!r})
    from deltalake import write_deltalake
    from s3_common import observations
    for n in range(1000):
        write_deltalake({uri!r}, observations(f"{trial}-" + str(n), 500), mode="append",
                        partition_by=["platform", "date"])
""")


def data_keys(endpoint: str, bucket: str, prefix: str) -> set[str]:
    s3 = s3_client(endpoint)
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.update(o["Key"] for o in page.get("Contents", []) if "_delta_log" not in o["Key"])
    return keys


def runs_of(uri: str) -> Counter:
    return Counter(
        DeltaTable(uri).to_pyarrow_table(columns=["run_id"]).column("run_id").to_pylist()
    )


def streaming_kill(endpoint: str) -> None:
    bucket = new_bucket(endpoint)
    prefix = "prefix/observations"
    uri = f"s3://{bucket}/{prefix}"
    write_deltalake(uri, observations("before", 1000), partition_by=["platform", "date"])
    committed = data_keys(endpoint, bucket, prefix)
    child = subprocess.Popen(
        [sys.executable, "-c", STREAMING_WRITER.format(here=HERE, uri=uri)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    t0 = time.time()
    while len(data_keys(endpoint, bucket, prefix) - committed) < 2:
        assert child.poll() is None, child.communicate()
        assert time.time() - t0 < 60, "writer never uploaded 2 files"
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL
    orphans = data_keys(endpoint, bucket, prefix) - committed
    uploads = s3_client(endpoint).list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    print(
        f"(a) killed after {time.time() - t0:.1f} s: {len(orphans)} orphan data files, "
        f"{len(uploads)} incomplete multipart uploads"
    )

    dt = DeltaTable(uri)
    assert dt.version() == 0, dt.version()
    assert runs_of(uri) == Counter({"before": 1000})
    write_deltalake(
        uri, observations("after", 1000), mode="append", partition_by=["platform", "date"]
    )
    assert runs_of(uri) == Counter({"before": 1000, "after": 1000})
    print("(a) table readable at version 0, next writer committed version 1, no run doubled")

    dt = DeltaTable(uri)
    listed_default = dt.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=True)
    listed_full = dt.vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=True, full=True
    )
    listed_week = dt.vacuum(dry_run=True, full=True)  # default retention: 1 week
    print(
        f"(a) vacuum dry runs: default {len(listed_default)}, full {len(listed_full)}, "
        f"full with default retention {len(listed_week)} files"
    )
    deleted = dt.vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False, full=True
    )
    deleted_keys = {f"{prefix}/{name}" for name in deleted}
    assert deleted_keys == orphans, (sorted(deleted_keys)[:3], sorted(orphans)[:3])
    remaining = data_keys(endpoint, bucket, prefix)
    current = {uri_.removeprefix(f"s3://{bucket}/") for uri_ in DeltaTable(uri).file_uris()}
    assert remaining == current, (remaining, current)
    assert runs_of(uri) == Counter({"before": 1000, "after": 1000})
    print(
        f"(a) vacuum(full=True, retention_hours=0) deleted exactly the {len(deleted)} orphans; "
        f"bucket now holds only the {len(current)} current files; version {DeltaTable(uri).version()}"
    )


def random_kills(endpoint: str, trials: int = 6) -> None:
    bucket = new_bucket(endpoint)
    uri = f"s3://{bucket}/prefix/observations"
    write_deltalake(uri, observations("seed", 500), partition_by=["platform", "date"])
    rng = random.Random(14)
    for trial in range(trials):
        child = subprocess.Popen(
            [sys.executable, "-c", QUICK_WRITER.format(here=HERE, uri=uri, trial=f"t{trial}")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.5 + rng.uniform(0, 1.2))  # ~1.5 s is the interpreter and deltalake import
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        runs = runs_of(uri)
        assert all(count == 500 for count in runs.values()), runs
        version = DeltaTable(uri).version()
        assert version == len(runs) - 1, (version, len(runs))
    write_deltalake(
        uri, observations("final", 500), mode="append", partition_by=["platform", "date"]
    )
    runs = runs_of(uri)
    assert all(count == 500 for count in runs.values()) and runs["final"] == 500
    print(
        f"(b) {trials} random SIGKILLs: {len(runs) - 2} runs committed whole, none partial "
        f"or doubled; version {DeltaTable(uri).version()}; the next writer committed"
    )


def main() -> None:
    print("deltalake", deltalake.__version__)
    with (
        moto_server() as endpoint,
        environment(aws_environment(endpoint) | {"AWS_CONDITIONAL_PUT": "etag"}),
    ):
        streaming_kill(endpoint)
        random_kills(endpoint)
    print("OK")


if __name__ == "__main__":
    main()
