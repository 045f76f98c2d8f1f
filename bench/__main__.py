"""`python -m bench [--quick]`: run every benchmark, print its figures, write bench/RESULTS.md.

Every ratio is measured against its baseline in the same run; absolute times are context.
`--quick` runs small sizes (a smoke run: every benchmark runs, how fast is not the point)
and writes nothing unless `--results` names a file.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    capacity,
    compaction,
    landing,
    query_cli,
    refresh,
    report,
    requests_per_account,
    s3_snapshot,
    snapshot_scale,
    suite,
)
from bench.results import Section, write_results

BENCHMARKS: list[tuple[str, str, Callable[..., dict[str, Any]]]] = [
    ("requests", "Requests per 1,000 accounts (emulator)", requests_per_account.run),
    (
        "snapshot",
        "Snapshot at scale: wall time and memory (emulator, Prefect server)",
        snapshot_scale.run,
    ),
    (
        "s3",
        "The same snapshot on an S3 lake (moto) vs a local lake",
        s3_snapshot.run,
    ),
    ("landing", "Landing: a run's rows to a committed Delta version", landing.run),
    ("refresh", "Refresh: incremental vs full, 1 and 5 years; ad hoc latest growth", refresh.run),
    ("compaction", "Compaction", compaction.run),
    ("query", "`followerledger query` end to end", query_cli.run),
    ("report", "Report of a large watchlist (500 accounts, a year)", report.run),
    ("capacity", "Capacity: accounts per credential, storage, refresh (README)", capacity.run),
    ("suite", "The test suite's wall time (`make test`), full bench only", suite.run),
]

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


class _Tee(io.TextIOBase):
    """Print through to the terminal while keeping a copy."""

    def __init__(self, target: Any) -> None:
        self.target = target
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        self.target.write(text)
        self.target.flush()
        self.lines.append(text)
        return len(text)


def main() -> None:
    """Run the benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--only",
        action="append",
        choices=[name for name, _, _ in BENCHMARKS],
        help="run only these benchmarks (repeatable)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=None,
        help=f"where to write the results (default {RESULTS} for a full run)",
    )
    args = parser.parse_args()
    target = args.results or (None if args.quick else RESULTS)
    sections = []
    for name, title, run in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        tee = _Tee(sys.stdout)
        started = time.perf_counter()
        with contextlib.redirect_stdout(tee):
            figures = run(quick=args.quick)
        lines = "".join(tee.lines).strip().splitlines()
        sections.append(Section(name, title, lines, figures, time.perf_counter() - started))
    if target is not None:
        write_results(target, sections, quick=args.quick)
        print(f"results written to {target}")


if __name__ == "__main__":
    main()
