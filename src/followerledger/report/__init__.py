"""The HTML report: one self-contained file of charts and tables over the marts.

`write_report` reads the published warehouse read-only (`query.open_warehouse`), draws each
section (`data` reads, `charts` draws SVG, `page` lays out) and writes the file atomically, so
whoever opens it sees the previous report or the new one, never half of one. Storage is UTC;
the time zone given only changes how times are displayed.
"""

from __future__ import annotations

import dataclasses
import os
import time
import zoneinfo
from datetime import datetime
from pathlib import Path
from typing import Final

from followerledger.leftovers import temporary_name
from followerledger.query import open_warehouse
from followerledger.report.data import read_report_data
from followerledger.report.page import render_page

__all__ = [
    "DEFAULT_DAYS",
    "ReportWritten",
    "build_report",
    "parse_zone",
    "write_report",
]

DEFAULT_DAYS: Final = 90


def parse_zone(name: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone of that name; ValueError saying what to give instead."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; give an IANA name such as UTC, Europe/Berlin "
            "or America/New_York"
        ) from None


@dataclasses.dataclass(frozen=True, slots=True)
class ReportWritten:
    """What `write_report` wrote."""

    path: Path
    size: int
    accounts: int
    seconds: float


def build_report(
    catalog: Path,
    *,
    zone: zoneinfo.ZoneInfo,
    days: int,
    now: datetime,
    lake: str | None = None,
) -> tuple[str, int]:
    """The report's HTML for the last `days` days of data, and how many accounts it shows.

    `lake` (the lake's path or URI) lets the catalog's lake views read an `s3://` lake."""
    if days < 1:
        raise ValueError(f"days must be 1 or more, not {days}")
    connection = open_warehouse(catalog, lake=lake)
    try:
        data = read_report_data(connection, days, now.date())
    finally:
        connection.close()
    return render_page(data, zone=zone, generated_at=now), len(data.accounts)


def write_report(
    catalog: Path,
    out: Path,
    *,
    now: datetime,
    zone: zoneinfo.ZoneInfo | None = None,
    days: int = DEFAULT_DAYS,
    lake: str | None = None,
) -> ReportWritten:
    """Write the report to `out` (a temporary name, then an atomic rename); `lake` as
    `build_report`."""
    started = time.perf_counter()
    html, accounts = build_report(
        catalog, zone=zone or zoneinfo.ZoneInfo("UTC"), days=days, now=now, lake=lake
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(temporary_name(out.name))
    try:
        temporary.write_text(html, encoding="utf-8")
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
    return ReportWritten(out, out.stat().st_size, accounts, time.perf_counter() - started)
