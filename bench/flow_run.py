"""One snapshot flow run, timed from inside its process: `python -m bench.flow_run`.

Reads its settings from the environment (as a deployment does) and prints one JSON line:
the flow's wall time (imports excluded), the process's peak RSS, the accounts landed, the
requests per platform, and what the run used that its ideal time depends on: the requests in
flight per platform and shard (`FOLLOWERLEDGER_FETCH_CONCURRENCY`) and the run's shards (the
distinct `shard` values of its run-log records; 1 for a run log without the column).
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

#: When set, the run is profiled with pyinstrument and its text profile written there.
PROFILE_ENV = "FOLLOWERLEDGER_BENCH_PROFILE"


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
    from followerledger.flows.snapshot import snapshot_flow

    profile_to = os.environ.get(PROFILE_ENV)
    profiler = None
    if profile_to:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled")
        profiler.start()
    started = time.perf_counter()
    result = snapshot_flow()
    seconds = time.perf_counter() - started
    if profiler is not None and profile_to:
        profiler.stop()
        Path(profile_to).write_text(
            profiler.output_text(show_all=False, timeline=False), encoding="utf-8"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from followerledger.settings import load_settings

    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mb": peak,
                "accounts": sum(p.accounts for p in result.platforms),
                "requests": {p.platform: p.requests for p in result.platforms},
                "concurrency": load_settings().fetch_concurrency,
                "shards": shards_of(result.run_id),
            }
        )
    )


if __name__ == "__main__":
    main()
