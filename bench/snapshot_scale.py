"""Snapshots at scale, against the emulator in its own process and a real Prefect server.

1. 10,000, 100,000 and 1,000,000 accounts (1M in the full bench only; a quarter per platform,
   their ids imported first, as an earlier run or an export would give them) with 50 ms added
   to every answer: the flow's wall time versus its two parts, the ideal fetch (`ideal_seconds`:
   requests x latency / (requests in flight per shard x shards), of the slowest platform,
   from what the run reports it used) and Prefect's fixed per-run cost (the same flow over one
   account without latency, measured apart); what each run wrote into the Prefect server's
   database (`bench.prefect_rows`) against today's flow; and each run's peak RSS.
2. Peak RSS of a snapshot of 10,000 and of 100,000 accounts (X and Bluesky, first run).

Every run lands in the warehouse's Delta lake (`landing.Landing`, one version per platform),
the accounts' ids imported into it by `import_history`, as a deployment's would be.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import requests
from deltalake import write_deltalake

from bench import prefect_rows
from bench.flow_run import PROFILE_ENV
from followerledger.delta_lake import OBSERVATIONS, commit_properties, delta_lake_of
from followerledger.emulator import emulator_environment
from followerledger.emulator.world import account_id
from followerledger.layout import WarehouseLayout
from followerledger.prefect_server import PrefectServer, client_environment, ensure_server
from followerledger.sources.bluesky import BATCH_SIZE as BLUESKY_BATCH
from followerledger.sources.mastodon import BATCH_SIZE as MASTODON_BATCH
from followerledger.sources.mastodon import split_handle, stored_id
from followerledger.sources.x import BATCH_SIZE as X_BATCH
from followerledger.sources.youtube import BATCH_SIZE as YOUTUBE_BATCH

LATENCY = 0.050
CONCURRENCY = 4
BIN = Path(sys.executable).parent
#: Issue 15's target: a snapshot's wall time within 1.2x of its ideal plus Prefect's fixed cost.
TARGET: Final = 1.2
#: Accounts of the scale runs (a quarter per platform); `--quick` keeps them small.
SIZES: Final = (10_000, 100_000, 1_000_000)
QUICK_SIZES: Final = (200, 2_000)
#: The scale runs' sizes, comma-separated, instead of `SIZES` (e.g. `10000,100000`).
SIZES_ENV: Final = "FOLLOWERLEDGER_BENCH_SIZES"
#: The platforms of the scale runs: those read by id in batches (issue 15's four), so that the
#: runs measure the pipeline (fetch, Arrow, Delta, shards) and stay comparable across
#: releases. Twitch and Threads send one request per account and Meta's budget counts each
#: call, so their cost is requests, which `bench/requests_per_account.py` counts.
SCALE_PLATFORMS: Final = ("x", "bluesky", "mastodon", "youtube")
BATCHES: Final = {
    "x": X_BATCH,
    "bluesky": BLUESKY_BATCH,
    "mastodon": MASTODON_BATCH,
    "youtube": YOUTUBE_BATCH,
}


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def handle_of(platform: str, index: int) -> str:
    """The generated watchlist's handle of account `index` of a platform: short, so that a
    million accounts stay under the watchlist's `MAX_FILE_BYTES` (16 MiB)."""
    if platform == "x":
        return f"a{index}"
    if platform == "bluesky":
        return f"a{index}.ex.co"
    if platform == "mastodon":
        return f"a{index}@m.ex"
    return f"@a{index}"


def write_watchlist(path: Path, per_platform: dict[str, int]) -> None:
    """A watchlist of generated brands, 50 accounts per brand and platform (written as it is
    generated; plain YAML scalars but for YouTube's `@` handles, which YAML reserves)."""
    brands = max(((count + 49) // 50 for count in per_platform.values()), default=0)
    with path.open("w", encoding="utf-8") as out:
        out.write("brands:\n")
        for brand in range(brands):
            out.write(f"  B{brand}:\n")
            for platform, count in per_platform.items():
                members = range(brand * 50, min(count, (brand + 1) * 50))
                if members:
                    quote = "'" if platform == "youtube" else ""
                    handles = ", ".join(f"{quote}{handle_of(platform, i)}{quote}" for i in members)
                    out.write(f"    {platform}: [{handles}]\n")


#: The run id of the ids written by `write_ids`, in the form of an import's.
IDS_RUN_ID: Final = "import-bench-ids"


def write_ids(layout: WarehouseLayout, per_platform: dict[str, int], observed_at: datetime) -> None:
    """One imported observation, with its stable id (the one the emulator gives it), of every
    account of `write_watchlist`'s watchlist, appended to the lake's observations Delta table
    (created with the lake's configuration) one commit per platform: a run then reads every
    account by id, as after an earlier run or an import with ids. Written straight from the
    handles as Arrow columns: `import_history` checks an export row by row (~6,000 rows/s
    here), minutes at a million accounts."""
    lake = delta_lake_of(layout)
    lake.table(OBSERVATIONS)
    schema = OBSERVATIONS.table_schema
    for platform, count in per_platform.items():
        handles = [handle_of(platform, index) for index in range(count)]
        ids = [account_id(platform, handle) for handle in handles]
        if platform == "mastodon":
            ids = [stored_id(split_handle(h)[1], i) for h, i in zip(handles, ids, strict=True)]
        columns = {
            "run_id": [IDS_RUN_ID] * count,
            "observed_at": [observed_at] * count,
            "platform": [platform] * count,
            "handle": handles,
            "account_id": ids,
            "display_name": [None] * count,
            # Any count will do: the run's own counts are the emulator's.
            "followers": [1000 + index % 997 for index in range(count)],
            "following": [None] * count,
            "posts": [None] * count,
            "status": ["ok"] * count,
            "detail": [None] * count,
            "source": ["import"] * count,
            "requested_handle": handles,
            "shard": [None] * count,
            "date": [observed_at.date()] * count,
        }
        write_deltalake(
            lake.table_uri(OBSERVATIONS),
            pa.table(columns, schema=schema),
            mode="append",
            storage_options=lake.storage_options,
            commit_properties=commit_properties(),
        )


def ideal_seconds(
    requests: Mapping[str, int], latency: float, concurrency: int, shards: int
) -> float:
    """A snapshot's ideal fetch time: each platform's requests x latency / (requests in
    flight per shard x shards), for the slowest platform (platforms and shards run side by
    side)."""
    return max(
        (count * latency / (concurrency * shards) for count in requests.values()), default=0.0
    )


class Emulator:
    """`followerledger emulator` in its own process, with generous limits; it knows the ids
    of the accounts of the watchlist it is started with."""

    def __init__(self, watchlist: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = dict(os.environ)
        if watchlist is not None:
            environment["FOLLOWERLEDGER_WATCHLIST"] = str(watchlist)
        self.process = subprocess.Popen(
            [str(BIN / "followerledger"), "emulator", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment,
        )
        # A million-account watchlist is read and its ids preloaded before it listens.
        deadline = time.monotonic() + 300
        while True:
            try:
                requests.get(self.url, timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.1)
        for platform in SCALE_PLATFORMS:
            requests.post(
                f"{self.url}/_emulator/limits",
                timeout=5,
                json={"platform": platform, "limit": 10**9, "seconds": 60},
            )

    def latency(self, seconds: float) -> None:
        requests.delete(f"{self.url}/_emulator/faults", timeout=5)
        if seconds:
            requests.post(
                f"{self.url}/_emulator/faults",
                timeout=5,
                json={"platform": "*", "kind": "latency", "seconds": seconds, "times": None},
            )

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=30)


def emulator_urls(url: str) -> dict[str, str]:
    """The settings that point every source at an emulator."""
    return {
        key: value for key, value in emulator_environment(url).items() if key.endswith("_API_URL")
    }


def settle(api_url: str, quiet: float = 2.0, limit: float = 600.0) -> None:
    """Wait until the Prefect server has recorded every task run it was sent.

    The server writes task runs from the event stream after a run ends (with SQLite, about
    twenty a second); a run started meanwhile gets 503 answers and retries for seconds, which
    would be measured as its own cost."""
    deadline = time.monotonic() + limit
    last = -1
    while time.monotonic() < deadline:
        count = requests.post(f"{api_url}/task_runs/count", json={}, timeout=60).json()
        if count == last:
            return
        last = count
        time.sleep(quiet)


def flow_run(environment: dict[str, str]) -> dict[str, Any]:
    """One flow run in a fresh process; its report."""
    done = subprocess.run(
        [str(BIN / "python"), "-m", "bench.flow_run"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"flow run failed: {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


_SHARED: list[PrefectServer] = []


def bench_server() -> PrefectServer:
    """The one Prefect server every section that runs flows uses (this one and `s3`): started
    at first use, in a folder of its own, and stopped when the benchmark process exits.
    Starting one costs seconds of both cores, more than a quick section's runs."""
    if not _SHARED:
        folder = Path(tempfile.mkdtemp(prefix="bench-prefect-"))
        server = ensure_server(WarehouseLayout.at(folder / "prefect"), port=free_port())

        def stop() -> None:
            if server.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(server.pid, signal.SIGTERM)
            shutil.rmtree(folder, ignore_errors=True)

        atexit.register(stop)
        _SHARED.append(server)
    return _SHARED[0]


#: The first-run memory runs' sizes, comma-separated (default: 200,1000 quick; 10000,100000;
#: the scale runs measure the peak at every size, 1,000,000 included).
MEMORY_SIZES_ENV = "FOLLOWERLEDGER_BENCH_MEMORY_SIZES"


def memory_sizes_for(quick: bool) -> tuple[int, ...]:
    """The accounts of each memory run: `MEMORY_SIZES_ENV`, else the defaults."""
    chosen = os.environ.get(MEMORY_SIZES_ENV)
    if chosen:
        return tuple(int(size) for size in chosen.split(","))
    return (200, 1_000) if quick else (10_000, 100_000)


def memory_line(size: int, report: dict[str, Any]) -> str:
    """One memory run: peak RSS and, beside it, its private and file-backed parts."""
    maps = report["mappings_at_exit_mb"]
    libraries = ", ".join(
        f"{name} {mb:.0f}" for name, mb in maps.items() if name not in ("[anon]", "[heap]")
    )
    return (
        f"snapshot of {report['accounts']:,} accounts: peak RSS {report['peak_rss_mb']:.0f} MB "
        f"in {report['seconds']:.1f} s (target < 300 MB, flat in accounts); at the sampled "
        f"peak {report['sampled_peak_mb']:.0f} MB: anonymous {report['anon_at_peak_mb']:.0f}, "
        f"file-backed {report['file_at_peak_mb']:.0f}; largest libraries at exit (MB): "
        f"{libraries}; private at exit: [anon] {maps.get('[anon]', 0):.0f} + [heap] "
        f"{maps.get('[heap]', 0):.0f}"
    )


def run(quick: bool = False) -> dict[str, Any]:
    """Print and return the figures."""
    chosen = os.environ.get(SIZES_ENV)
    sizes = (
        tuple(int(size) for size in chosen.split(","))
        if chosen
        else (QUICK_SIZES if quick else SIZES)
    )
    memory_sizes = memory_sizes_for(quick)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        server = bench_server()
        database = prefect_rows.database_of(server.home)
        emulator = Emulator()
        try:

            def environment(name: str) -> dict[str, str]:
                base = client_environment(server.api_url)
                base.update(
                    {
                        "FOLLOWERLEDGER_WAREHOUSE": str(root / name / "warehouse"),
                        "FOLLOWERLEDGER_WATCHLIST": str(root / name / "watchlist.yaml"),
                        **emulator_urls(emulator.url),
                        "FOLLOWERLEDGER_FETCH_CONCURRENCY": str(CONCURRENCY),
                        "FOLLOWERLEDGER_RATE_BUDGETS": "x=100000/60,bluesky=100000/60,"
                        "mastodon=100000/60,youtube=100000/60",
                        "X_BEARER_TOKEN": "bench",
                        "YOUTUBE_API_KEY": "bench",
                        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
                    }
                )
                (root / name).mkdir(parents=True, exist_ok=True)
                return base

            # Prefect's fixed cost: one account, no latency.
            fixed_env = environment("fixed")
            write_watchlist(root / "fixed/watchlist.yaml", {"x": 1})
            flow_run(fixed_env)  # the first run of a fresh server pays its warm-up
            settle(server.api_url)
            fixed = flow_run(fixed_env)["seconds"]
            settle(server.api_url)
            figures["prefect_fixed_s"] = fixed

            for size in sizes:
                figures.update(
                    _scale_run(root, environment(f"scale{size}"), size, fixed, database, quick)
                )

            # Memory: peak RSS at two sizes, first runs of X and Bluesky.
            for size in memory_sizes:
                memory_env = environment(f"memory{size}")
                write_watchlist(
                    root / f"memory{size}/watchlist.yaml", {"x": size // 2, "bluesky": size // 2}
                )
                settle(server.api_url)
                report = flow_run(memory_env)
                figures[f"peak_rss_mb_{size}"] = report["peak_rss_mb"]
                figures[f"anon_at_peak_mb_{size}"] = report["anon_at_peak_mb"]
                figures[f"file_at_peak_mb_{size}"] = report["file_at_peak_mb"]
                figures[f"mappings_at_exit_mb_{size}"] = report["mappings_at_exit_mb"]
                print(memory_line(size, report))
            scale_ratio(figures, sizes)
            smallest, largest = min(memory_sizes), max(memory_sizes)
            if largest > smallest:
                ratio = figures[f"peak_rss_mb_{largest}"] / figures[f"peak_rss_mb_{smallest}"]
                anon = (
                    figures[f"anon_at_peak_mb_{largest}"] / figures[f"anon_at_peak_mb_{smallest}"]
                )
                figures["peak_rss_ratio"] = ratio
                print(
                    f"peak RSS {largest:,} / {smallest:,} accounts: {ratio:.2f}x "
                    f"(anonymous part {anon:.2f}x; target <= 1.2x)"
                )
        finally:
            emulator.stop()
    return figures


def _scale_run(
    root: Path,
    scale_env: dict[str, str],
    size: int,
    fixed: float,
    database: Path | None,
    quick: bool,
) -> dict[str, Any]:
    """One snapshot of `size` accounts (a quarter per platform, ids imported first) with
    `LATENCY` added to every answer: printed and returned figures, suffixed with the size."""
    folder = root / f"scale{size}"
    counts = dict.fromkeys(SCALE_PLATFORMS, size // len(SCALE_PLATFORMS))
    setup = time.perf_counter()
    write_watchlist(folder / "watchlist.yaml", counts)
    write_ids(
        WarehouseLayout.at(folder / "warehouse"), counts, datetime.now(UTC) - timedelta(days=1)
    )
    scale_emulator = Emulator(folder / "watchlist.yaml")
    setup = time.perf_counter() - setup
    scale_env.update(emulator_urls(scale_emulator.url))
    scale_emulator.latency(LATENCY)
    # `FOLLOWERLEDGER_BENCH_PROFILE=FILE python -m bench --only snapshot` profiles this
    # run (pyinstrument, the flow's own thread) into FILE.
    if os.environ.get(PROFILE_ENV):
        scale_env[PROFILE_ENV] = os.environ[PROFILE_ENV]
    settle(server_api_url(scale_env))
    before = prefect_rows.settled_rows(database) if database is not None else None
    try:
        measured = flow_run(scale_env)
    finally:
        scale_emulator.stop()
    settle(server_api_url(scale_env))
    after = prefect_rows.settled_rows(database) if database is not None else None
    minimum = {p: math.ceil(n / BATCHES[p]) + (p == "mastodon") for p, n in counts.items()}
    concurrency, shards = int(measured["concurrency"]), int(measured["shards"])
    ideal = ideal_seconds(measured["requests"], LATENCY, concurrency, shards)
    floor = ideal_seconds(minimum, LATENCY, concurrency, shards)
    ratio = measured["seconds"] / (ideal + fixed)
    verdict = (
        "--quick: not comparable" if quick else ("meets it" if ratio <= TARGET else "misses it")
    )
    print(
        f"snapshot of {measured['accounts']:,} accounts with {LATENCY * 1000:.0f} ms "
        f"latency, {concurrency} requests in flight per platform and shard, {shards} "
        f"shard(s): {measured['seconds']:.2f} s; ideal {ideal:.2f} s (requests "
        f"{measured['requests']}) + Prefect fixed cost {fixed:.2f} s = {ideal + fixed:.2f} s "
        f"-> {ratio:.2f}x (target <= {TARGET}x: {verdict}); peak RSS "
        f"{measured['peak_rss_mb']:.0f} MB (at the sampled peak: anonymous "
        f"{measured['anon_at_peak_mb']:.0f}, file-backed {measured['file_at_peak_mb']:.0f}); "
        f"watchlist, ids and emulator ready in {setup:.1f} s"
    )
    figures: dict[str, Any] = {
        f"accounts_{size}": measured["accounts"],
        f"wall_s_{size}": measured["seconds"],
        f"ideal_s_{size}": ideal,
        f"ratio_{size}": ratio,
        f"requests_{size}": measured["requests"],
        f"api_minimum_requests_{size}": minimum,
        f"ideal_at_minimum_s_{size}": floor,
        f"shards_{size}": shards,
        f"peak_rss_mb_scale_{size}": measured["peak_rss_mb"],
        f"anon_at_peak_mb_scale_{size}": measured["anon_at_peak_mb"],
        f"setup_s_{size}": setup,
    }
    if before is not None and after is not None:
        rows = prefect_rows.written(before, after)
        print(prefect_rows.describe(size, rows, quick=quick))
        figures.update(
            {f"prefect_{label.replace(' ', '_')}_{size}": n for label, n in rows.items()}
        )
    else:
        print("Prefect rows: not counted (a configured server; its database is not here)")
    return figures


def scale_ratio(figures: dict[str, Any], sizes: Sequence[int]) -> None:
    """Print and keep the scale runs' peak RSS, largest over smallest (target <= 1.2x)."""
    smallest, largest = min(sizes), max(sizes)
    if largest == smallest:
        return
    ratio = figures[f"peak_rss_mb_scale_{largest}"] / figures[f"peak_rss_mb_scale_{smallest}"]
    anon = (
        figures[f"anon_at_peak_mb_scale_{largest}"] / figures[f"anon_at_peak_mb_scale_{smallest}"]
    )
    figures["peak_rss_scale_ratio"] = ratio
    print(
        f"peak RSS of the scale runs, {largest:,} / {smallest:,} accounts: {ratio:.2f}x "
        f"(anonymous part {anon:.2f}x; target <= 1.2x)"
    )


def server_api_url(environment: Mapping[str, str]) -> str:
    """The Prefect API a flow run's environment points at."""
    return environment["PREFECT_API_URL"]
