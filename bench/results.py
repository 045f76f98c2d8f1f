"""bench/RESULTS.md: the machine, the date, the versions, and every figure and ratio."""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "followerledger",
    "prefect",
    "duckdb",
    "pyarrow",
    "requests",
    "vl-convert-python",
    "dlt",
)


@dataclasses.dataclass(frozen=True, slots=True)
class Section:
    """One benchmark's output."""

    name: str
    title: str
    lines: list[str]
    figures: dict[str, Any]
    seconds: float


def machine() -> list[str]:
    """What the benchmarks ran on."""
    memory = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as handle:
            kilobytes = int(handle.readline().split()[1])
        memory = f", {kilobytes / 1024 / 1024:.0f} GiB memory"
    except (OSError, ValueError, IndexError):
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    return [
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {os.cpu_count()} cores ({cpu}){memory}, {platform.system()} "
        f"{platform.release()}",
        f"- Python {sys.version.split()[0]}; " + ", ".join(versions),
        "- The machine is shared: absolute times are context; each ratio is measured against "
        "its baseline in the same run.",
    ]


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, dict):
        return ", ".join(f"{key} {item}" for key, item in value.items())
    return str(value)


def write_results(path: Path, sections: list[Section], *, quick: bool) -> None:
    """Write the results file."""
    lines = [
        "# Benchmark results",
        "",
        "Regenerate with `make bench` (`python -m bench`); `python -m bench --quick` is a "
        "smoke run at small sizes.",
        "",
    ]
    if quick:
        lines += ["**Quick run: sizes far below the targets' sizes; figures are not results.**", ""]
    lines += [*machine(), ""]
    for section in sections:
        lines += [f"## {section.title}", "", f"({section.seconds:.0f} s)", "", "```"]
        lines += section.lines
        lines += ["```", "", "| figure | value |", "|---|---|"]
        lines += [f"| {key} | {_value(value)} |" for key, value in section.figures.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
