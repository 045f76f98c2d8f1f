"""One snapshot flow run, timed from inside its process: `python -m bench.flow_run`.

Reads its settings from the environment (as a deployment does) and prints one JSON line:
the flow's wall time (imports excluded), the process's peak RSS and the accounts landed.
"""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

#: When set, the run is profiled with pyinstrument and its text profile written there.
PROFILE_ENV = "FOLLOWERLEDGER_BENCH_PROFILE"


def main() -> None:
    """Run the flow once and report."""
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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mb": peak,
                "accounts": sum(p.accounts for p in result.platforms),
                "requests": {p.platform: p.requests for p in result.platforms},
            }
        )
    )


if __name__ == "__main__":
    main()
