"""The test suite's wall time on this machine: `make test`'s pytest command, run once (full
bench only: it takes minutes), against the figure before issue 15 (`BEFORE_SECONDS`).

The machine is shared: the load average at the start and at the end is printed beside the
time, and the CPU the suite used (its processes', from `resource.RUSAGE_CHILDREN`), which
moves less with the load than the wall time does.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
#: `make test`'s command (the Makefile's `test` target).
COMMAND: Final = ("-m", "pytest", "-q", "-n", "3", "--dist", "worksteal", "-p", "no:cacheprovider")
#: Before issue 15: a fresh clone of main at 40c8093, `CI=true bash .ci/run`, pytest's own
#: figure (767 passed in 323 s; 5 min 30 s wall with the install).
BEFORE_TESTS: Final = 767
BEFORE_SECONDS: Final = 323.0
BEFORE_COMMIT: Final = "40c8093"
#: Issue 15's target for the suite on 2 cores.
TARGET_SECONDS: Final = 180.0


def run(quick: bool = False) -> dict[str, Any]:
    """Print and return the figures (`--quick`: not run, a line says so)."""
    if quick:
        print("test suite: runs in the full bench only (it takes minutes)")
        return {}
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, *COMMAND],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    load_after = os.getloadavg()[0]
    summary = _summary(completed.stdout)
    verdict = "meets it" if seconds <= TARGET_SECONDS else "misses it"
    print(
        f"test suite (`make test`'s pytest, -n 3, {os.cpu_count()} cores): {summary} "
        f"(exit {completed.returncode}); {seconds:.0f} s wall, {cpu:.0f} s CPU; load average "
        f"{load_before:.1f} at the start, {load_after:.1f} at the end"
    )
    print(
        f"before issue 15 ({BEFORE_COMMIT}, fresh clone): {BEFORE_TESTS} tests in "
        f"{BEFORE_SECONDS:.0f} s -> {seconds / BEFORE_SECONDS:.2f}x; target under "
        f"{TARGET_SECONDS:.0f} s: {verdict}"
    )
    return {
        "suite_s": seconds,
        "suite_cpu_s": cpu,
        "suite_exit": completed.returncode,
        "suite_summary": summary,
        "suite_before_s": BEFORE_SECONDS,
        "load_start": load_before,
        "load_end": load_after,
    }


def _summary(output: str) -> str:
    """pytest's last line (`780 passed in 300.1s`), or what it printed last."""
    lines = [line.strip("= ") for line in output.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if re.search(r"\d+ (passed|failed|error)", line):
            return line
    return lines[-1] if lines else "no output"
