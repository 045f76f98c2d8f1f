"""Q1: a Delta table on moto S3 from the AWS_* environment; concurrent appenders.

Measures (deltalake 1.6.6, moto 5.2.5 server mode on 127.0.0.1):
  a. write_deltalake / DeltaTable with storage_options=None read AWS_ENDPOINT_URL,
     AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_ALLOW_HTTP from os.environ;
     with the environment cleared, the same options passed as storage_options (upper or lower
     case keys) work too.
  b. 8 processes x 6 appends each, all started together, for each commit mode:
     default (no option), aws_conditional_put=etag, AWS_S3_ALLOW_UNSAFE_RENAME=true.
     Checks every append's rows are in the table exactly once and the log has one version per
     append; prints time per commit and how many commits were lost, if any.

Run: .venv/bin/python spikes/s3_env_and_concurrency.py
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(__file__))

import deltalake
from deltalake import CommitProperties, DeltaTable, write_deltalake
from s3_common import (
    Timer,
    aws_environment,
    environment,
    moto_server,
    new_bucket,
    observations,
)

WRITERS = 8
APPENDS = 6
ROWS = 200


def writer(
    uri: str, options: dict[str, str] | None, retries: int | None, index: int, start_at: float, out
) -> None:
    """Runs in a child (spawn): the AWS_* variables come from the inherited environment."""
    while time.time() < start_at:
        time.sleep(0.001)
    timings, errors = [], []
    for n in range(APPENDS):
        table = observations(f"w{index}-{n}", ROWS)
        t0 = time.perf_counter()
        try:
            write_deltalake(
                uri,
                table,
                mode="append",
                partition_by=["platform", "date"],
                storage_options=options,
                commit_properties=CommitProperties(max_commit_retries=retries),
            )
        except Exception as exc:  # recorded, checked by the parent
            errors.append((n, f"{type(exc).__name__}: {str(exc)[:300]}"))
        timings.append(time.perf_counter() - t0)
    out.put((index, timings, errors))


def concurrent_appends(
    endpoint: str, label: str, options: dict[str, str] | None, retries: int | None = None
) -> dict:
    bucket = new_bucket(endpoint)
    uri = f"s3://{bucket}/prefix/observations"
    # Version 0 created first, so every writer appends to an existing table.
    write_deltalake(
        uri, observations("seed", 1), partition_by=["platform", "date"], storage_options=options
    )
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 3.0  # time for the spawned interpreters to import deltalake
    procs = [
        ctx.Process(target=writer, args=(uri, options, retries, i, start_at, out))
        for i in range(WRITERS)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    wall = time.time() - start_at
    timings = [t for _, ts, _ in results for t in ts]
    errors = [e for _, _, es in results for e in es]
    dt = DeltaTable(uri, storage_options=options)
    runs = Counter(dt.to_pyarrow_table(columns=["run_id"]).column("run_id").to_pylist())
    expected = {f"w{i}-{n}" for i in range(WRITERS) for n in range(APPENDS)}
    present = {r for r in runs if r != "seed"}
    failed = {f"w{i}-{n}" for i, _, es in results for n, e in es}
    summary = {
        "mode": label,
        "max_commit_retries": retries,
        "version": dt.version(),
        "expected_version": WRITERS * APPENDS,
        "appends_reported_ok": WRITERS * APPENDS - len(errors),
        "appends_in_table": len(present & expected),
        "refused": len(failed),
        "silently_lost": len(expected - present - failed),
        "doubled": sum(1 for r, c in runs.items() if r != "seed" and c != ROWS),
        "errors": sorted({e for _, e in errors}),
        "commit_s_median": sorted(timings)[len(timings) // 2],
        "commit_s_max": max(timings),
        "wall_s": round(wall, 2),
    }
    return summary


def main() -> None:
    print("deltalake", deltalake.__version__)
    with moto_server() as endpoint:
        env = aws_environment(endpoint)
        bucket = new_bucket(endpoint)
        uri = f"s3://{bucket}/prefix/observations"

        # a. environment only, no storage_options
        with environment(env):
            with Timer() as t:
                write_deltalake(
                    uri, observations("r1", 10), mode="append", partition_by=["platform", "date"]
                )
            assert DeltaTable(uri).version() == 0
            print(f"env-only write ok, create commit {t.seconds * 1000:.0f} ms")
        with environment({}):
            try:
                DeltaTable(uri)
                raise AssertionError("opened without any AWS variable")
            except OSError as exc:
                print("without the environment:", str(exc).splitlines()[0][:120], "...")
            assert DeltaTable(uri, storage_options=env).version() == 0
            lower = {k.lower(): v for k, v in env.items()}
            assert DeltaTable(uri, storage_options=lower).version() == 0
            print("storage_options only (upper- or lower-case keys): ok")

        # b. concurrency, the environment inherited by the spawned writers
        with environment(env):
            modes = [
                ("etag", {"aws_conditional_put": "etag"}, None),
                ("etag", {"aws_conditional_put": "etag"}, 100),
                ("default", None, None),
                ("unsafe_rename", {"AWS_S3_ALLOW_UNSAFE_RENAME": "true"}, None),
                (
                    "disabled+unsafe_rename",
                    {"aws_conditional_put": "disabled", "AWS_S3_ALLOW_UNSAFE_RENAME": "true"},
                    None,
                ),
            ]
            results = []
            for label, opts, retries in modes:
                try:
                    results.append(concurrent_appends(endpoint, label, opts, retries))
                except Exception as exc:
                    results.append({"mode": label, "failed": f"{type(exc).__name__}: {exc}"[:300]})
                print(results[-1], flush=True)
        etag, etag_retried, default = results[0], results[1], results[2]
        for r in (etag, etag_retried, default):
            # A commit that loses the race is refused loudly (CommitFailedError), never lost.
            assert r["silently_lost"] == 0 and r["doubled"] == 0, r
            assert r["version"] == r["appends_in_table"], r
            assert all(e.startswith("CommitFailedError") for e in r["errors"]), r
        assert etag_retried["version"] == etag_retried["expected_version"], etag_retried
        assert not etag_retried["errors"], etag_retried
        print(
            "OK: conditional put (etag, also the default): no commit silently lost; "
            "with max_commit_retries=100 every one of the 48 appends landed once"
        )


if __name__ == "__main__":
    main()
