"""One snapshot flow run, timed from inside its process: `python -m bench.flow_run`.

Reads its settings from the environment (as a deployment does) and prints one JSON line:
the flow's wall time (imports excluded), the process's peak RSS (`VmHWM`) and, from a
thread sampling `/proc/self/status`, the anonymous (private) and file-backed (shared
libraries' code) parts at the sampled peak, the largest mappings at exit
(`/proc/self/smaps`), the accounts landed, the requests per platform, and what the run used
that its ideal time depends on: the requests in flight per platform and shard
(`FOLLOWERLEDGER_FETCH_CONCURRENCY`) and the run's shards (the distinct `shard` values of its
run-log records; 1 for a run log without the column).

The peak is the kernel's high-water mark of this process image (`VmHWM`), not `ru_maxrss`:
that one survives `exec` and so counts the pages this process shared with its parent when it
was forked (the bench's own process, hundreds of MB after a 1M-account set-up), which made a
1,000-account run "peak" at 560 MB.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

#: When set, the run is profiled with pyinstrument and its text profile written there.
PROFILE_ENV = "FOLLOWERLEDGER_BENCH_PROFILE"
#: How often the RSS sampler looks (seconds): the peak itself is the kernel's (VmHWM);
#: the sample splits it. Every 5 ms took 4% of the run's GIL time at 100,000 accounts.
SAMPLE_EVERY = 0.05


def status_mb() -> dict[str, float]:
    """VmRSS, VmHWM, RssAnon and RssFile of this process, in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        fields = dict(
            line.split(":", 1) for line in status if line.startswith(("VmRSS", "VmHWM", "Rss"))
        )
    return {name: int(value.split()[0]) / 1024 for name, value in fields.items()}


class PeakSampler:
    """A daemon thread keeping the sample of largest VmRSS, with its anon/file split."""

    def __init__(self) -> None:
        self.peak = status_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            sample = status_mb()
            if sample["VmRSS"] > self.peak["VmRSS"]:
                self.peak = sample

    def stop(self) -> dict[str, float]:
        """The peak sample (after one last look)."""
        self._stop.set()
        self._thread.join()
        sample = status_mb()
        return sample if sample["VmRSS"] > self.peak["VmRSS"] else self.peak


def mappings_mb(top: int = 8) -> dict[str, float]:
    """Resident MB per mapping at exit, largest first: `[anon]` and `[heap]` are private
    memory, a library's file name its code and data pages."""
    resident: dict[str, int] = {}
    name = "[anon]"
    with open("/proc/self/smaps", encoding="utf-8", errors="replace") as smaps:
        for line in smaps:
            parts = line.split()
            if parts and "-" in parts[0] and not parts[0].endswith(":"):
                name = parts[5] if len(parts) > 5 else "[anon]"
                name = os.path.basename(name) if name.startswith("/") else name
            elif parts and parts[0] == "Rss:":
                resident[name] = resident.get(name, 0) + int(parts[1])
    largest = sorted(resident.items(), key=lambda item: -item[1])[:top]
    return {key: round(kb / 1024, 1) for key, kb in largest}


def shards_of(run_id: str) -> int:
    """How many shards the run was fetched in, as its run-log records say."""
    from deltalake import DeltaTable

    from followerledger.delta_lake import RUN_LOG, delta_lake_of
    from followerledger.settings import load_settings

    lake = delta_lake_of(load_settings().layout)
    records = DeltaTable(lake.table_uri(RUN_LOG), storage_options=lake.storage_options)
    table = records.to_pyarrow_table(filters=[("run_id", "=", run_id)])
    if "shard" not in table.column_names:
        return 1
    return max(1, len(set(table.column("shard").to_pylist())))


def main() -> None:
    """Run the flow once and report."""
    sampler = PeakSampler()
    from followerledger.flows.snapshot import snapshot_flow
    from followerledger.run_summary import of_run

    profile_to = os.environ.get(PROFILE_ENV)
    profiler = None
    if profile_to:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled")
        profiler.start()
    started = time.perf_counter()
    result = of_run(snapshot_flow())
    seconds = time.perf_counter() - started
    if profiler is not None and profile_to:
        profiler.stop()
        Path(profile_to).write_text(
            profiler.output_text(show_all=False, timeline=False), encoding="utf-8"
        )
    peak = status_mb()["VmHWM"]
    sampled = sampler.stop()
    from followerledger.settings import load_settings

    report: dict[str, Any] = {
        "seconds": seconds,
        "peak_rss_mb": peak,
        "sampled_peak_mb": sampled["VmRSS"],
        "anon_at_peak_mb": sampled["RssAnon"],
        "file_at_peak_mb": sampled["RssFile"],
        "mappings_at_exit_mb": mappings_mb(),
        "accounts": sum(p.accounts for p in result.platforms),
        "requests": {p.platform: p.requests for p in result.platforms},
        "concurrency": load_settings().fetch_concurrency,
        "shards": shards_of(result.run_id),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
