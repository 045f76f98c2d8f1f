"""Snapshots at scale, against the emulator in its own process and a real Prefect server.

1. 10,000 accounts (2,500 per platform, resolved by an earlier run) with 50 ms added to every
   answer: the flow's wall time versus the ideal, requests x latency / concurrency (the
   slowest platform; platforms run side by side). Prefect's fixed per-run cost — the same
   flow over one account without latency — is measured and reported separately.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from bench.flow_run import PROFILE_ENV
from followerledger.demo import write_generated_history
from followerledger.emulator import emulator_environment
from followerledger.emulator.world import World
from followerledger.history_import import import_history
from followerledger.layout import WarehouseLayout
from followerledger.prefect_server import PrefectServer, client_environment, ensure_server
from followerledger.sources import registry
from followerledger.sources.bluesky import BATCH_SIZE as BLUESKY_BATCH
from followerledger.sources.mastodon import BATCH_SIZE as MASTODON_BATCH
from followerledger.sources.x import BATCH_SIZE as X_BATCH
from followerledger.sources.youtube import BATCH_SIZE as YOUTUBE_BATCH
from followerledger.watchlist import load_watchlist

LATENCY = 0.050
CONCURRENCY = 4
BIN = Path(sys.executable).parent


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_watchlist(path: Path, per_platform: dict[str, int]) -> None:
    """A watchlist of generated brands, 50 accounts per brand and platform."""
    handle = {
        "x": lambda i: f"acct{i:06d}",
        "bluesky": lambda i: f"acct{i}.example.com",
        "mastodon": lambda i: f"acct{i}@mastodon.example",
        "youtube": lambda i: f"@acct{i}",
    }
    brands: dict[int, dict[str, list[str]]] = {}
    for platform, count in per_platform.items():
        for i in range(count):
            brands.setdefault(i // 50, {}).setdefault(platform, []).append(handle[platform](i))
    lines = ["brands:"]
    for brand, platforms in sorted(brands.items()):
        lines.append(f"  Brand{brand:05d}:")
        for platform, handles in platforms.items():
            lines.append(f"    {platform}: [" + ", ".join(f"'{h}'" for h in handles) + "]")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


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
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(self.url, timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the emulator did not start") from None
                time.sleep(0.1)
        for platform in registry.names():
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


#: The memory runs' sizes, comma-separated (default: 200,1000 quick; 10000,100000,1000000).
MEMORY_SIZES_ENV = "FOLLOWERLEDGER_BENCH_MEMORY_SIZES"


def memory_sizes_for(quick: bool) -> tuple[int, ...]:
    """The accounts of each memory run: `MEMORY_SIZES_ENV`, else the defaults."""
    chosen = os.environ.get(MEMORY_SIZES_ENV)
    if chosen:
        return tuple(int(size) for size in chosen.split(","))
    return (200, 1_000) if quick else (10_000, 100_000, 1_000_000)


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
    per_platform = 50 if quick else 2_500
    memory_sizes = memory_sizes_for(quick)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        server = bench_server()
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

            # 10,000 accounts, resolved by an imported export with ids (the product's import
            # path), read by id with 50 ms added to every answer.
            scale_env = environment("scale")
            counts = dict.fromkeys(registry.names(), per_platform)
            write_watchlist(root / "scale/watchlist.yaml", counts)
            watchlist = load_watchlist(root / "scale/watchlist.yaml")
            export = root / "scale/export.csv"
            write_generated_history(
                watchlist, export, datetime.now(UTC), World(), days=1, step=timedelta(days=1)
            )
            import_history(export, WarehouseLayout.at(root / "scale/warehouse"))
            scale_emulator = Emulator(root / "scale/watchlist.yaml")
            scale_env.update(emulator_urls(scale_emulator.url))
            scale_emulator.latency(LATENCY)
            # `FOLLOWERLEDGER_BENCH_PROFILE=FILE python -m bench --only snapshot` profiles
            # this run (pyinstrument, the flow's own thread) into FILE.
            if os.environ.get(PROFILE_ENV):
                scale_env[PROFILE_ENV] = os.environ[PROFILE_ENV]
            settle(server.api_url)
            try:
                measured = flow_run(scale_env)
            finally:
                scale_emulator.stop()
            batches = {
                "x": X_BATCH,
                "bluesky": BLUESKY_BATCH,
                "mastodon": MASTODON_BATCH,
                "youtube": YOUTUBE_BATCH,
            }
            minimum = {p: math.ceil(n / batches[p]) + (p == "mastodon") for p, n in counts.items()}
            ideal = max(measured["requests"][p] * LATENCY / CONCURRENCY for p in counts)
            floor = max(minimum[p] * LATENCY / CONCURRENCY for p in counts)
            figures.update(
                accounts=measured["accounts"],
                wall_s=measured["seconds"],
                ideal_s=ideal,
                prefect_fixed_s=fixed,
                ratio=measured["seconds"] / (ideal + fixed),
                requests=measured["requests"],
                api_minimum_requests=minimum,
                ideal_at_minimum_s=floor,
            )
            print(
                f"snapshot of {measured['accounts']:,} accounts with {LATENCY * 1000:.0f} ms "
                f"latency, {CONCURRENCY} requests in flight per platform: "
                f"{measured['seconds']:.2f} s; ideal {ideal:.2f} s (requests "
                f"{measured['requests']}) + Prefect fixed cost {fixed:.2f} s -> "
                f"{figures['ratio']:.2f}x (target <= 1.3x)"
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
