"""One snapshot flow run, timed from inside its process: `python -m bench.flow_run`.

Reads its settings from the environment (as a deployment does) and prints one JSON line:
the flow's wall time (imports excluded), the process's peak RSS and the accounts landed.
"""

from __future__ import annotations

import json
import resource
import time


def main() -> None:
    """Run the flow once and report."""
    from followerledger.flows.snapshot import snapshot_flow

    started = time.perf_counter()
    result = snapshot_flow()
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_rss_mb": peak,
                "accounts": sum(p["accounts"] for p in result["platforms"]),
                "requests": {p["platform"]: p["requests"] for p in result["platforms"]},
            }
        )
    )


if __name__ == "__main__":
    main()
