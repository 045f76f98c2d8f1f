"""`python -m bench [--quick]`: run every benchmark and print its figures."""

from __future__ import annotations

import argparse

from bench import compaction, landing, refresh, report, requests_per_account


def main() -> None:
    """Run the benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    args = parser.parse_args()
    requests_per_account.run(quick=args.quick)
    landing.run(quick=args.quick)
    refresh.run(quick=args.quick)
    compaction.run(quick=args.quick)
    report.run(quick=args.quick)


if __name__ == "__main__":
    main()
