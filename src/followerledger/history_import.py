"""Backfill historical follower counts from CSV, all or nothing.

Columns: `observed_at,platform,handle,followers`, optionally `following,posts,account_id,
display_name`. `observed_at` is ISO-8601; a bare date means 00:00 UTC and a time without an
offset is read as UTC. Every row is validated before anything is written; the first bad row
is reported as `FILE:LINE: reason` and nothing from that file lands.

Rows land with `source='import'`, one file per platform and UTC day, under a run id derived
from the file's content (`import-<sha256 prefix>`): importing the same file again replaces
its own files instead of duplicating them.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final

from followerledger.lake import Lake, LakeFile, observation_key
from followerledger.observation import PARQUET_OPTIONS, PLATFORMS, Observation, to_table
from followerledger.sources.http import utc_now
from followerledger.handles import HANDLE_PATTERNS, HANDLE_RULES

REQUIRED: Final = ("observed_at", "platform", "handle", "followers")
OPTIONAL: Final = ("following", "posts", "account_id", "display_name")


class ImportFileError(ValueError):
    """The CSV cannot be imported; the message is `FILE:LINE: reason`."""

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")


@dataclasses.dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import landed."""

    run_id: str
    rows: int
    files: tuple[LakeFile, ...]


def parse_moment(text: str) -> datetime:
    """An ISO-8601 date or date-time as an aware UTC datetime (bare date: 00:00 UTC)."""
    value = text.strip()
    if len(value) == 10:
        day = date.fromisoformat(value)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _count(text: str | None, column: str, *, required: bool) -> int | None:
    value = (text or "").strip()
    if not value:
        if required:
            raise ValueError(f"{column} is empty: give a whole number")
        return None
    if not value.isdigit():
        raise ValueError(f"{column} {value!r} is not a whole number of 0 or more")
    return int(value)


def run_id_for(content: bytes) -> str:
    """The import's run id: the same content always gets the same id."""
    return "import-" + hashlib.sha256(content).hexdigest()[:16]


def read_history(
    path: Path, *, clock: Callable[[], datetime] = utc_now
) -> tuple[str, list[Observation]]:
    """Validate a history CSV; return its run id and rows, or raise ImportFileError."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise ImportFileError(path, None, "file not found") from None
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(path, None, f"not UTF-8 text ({error.reason})") from None
    run_id = run_id_for(content)
    reader = csv.DictReader(text.splitlines())
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ImportFileError(
            path,
            1,
            f"missing column(s) {', '.join(missing)}: the header must name {','.join(REQUIRED)}",
        )
    unknown = [name for name in header if name not in REQUIRED + OPTIONAL]
    if unknown:
        raise ImportFileError(
            path,
            1,
            f"unknown column(s) {', '.join(unknown)}: allowed are {','.join(REQUIRED + OPTIONAL)}",
        )
    reader.fieldnames = header
    latest = clock() + timedelta(days=1)
    detail = f"imported from {path.name}"
    rows: list[Observation] = []
    for record in reader:
        line = reader.line_num
        if None in record:
            raise ImportFileError(path, line, "more fields than the header has columns")
        try:
            observed_at = parse_moment(record["observed_at"] or "")
        except ValueError:
            raise ImportFileError(
                path,
                line,
                f"observed_at {record['observed_at']!r} is not an ISO-8601 date "
                "or date-time (e.g. 2008-07-01 or 2008-07-01T12:00:00Z)",
            ) from None
        if observed_at > latest:
            raise ImportFileError(
                path, line, f"observed_at {record['observed_at']!r} is in the future"
            )
        platform = (record["platform"] or "").strip().lower()
        if platform not in PLATFORMS:
            raise ImportFileError(
                path,
                line,
                f"unknown platform {record['platform']!r}: use one of {', '.join(PLATFORMS)}",
            )
        handle = (record["handle"] or "").strip()
        if not HANDLE_PATTERNS[platform].match(handle):
            raise ImportFileError(
                path, line, f"invalid {platform} handle {handle!r}: {HANDLE_RULES[platform]}"
            )
        try:
            followers = _count(record["followers"], "followers", required=True)
            following = _count(record.get("following"), "following", required=False)
            posts = _count(record.get("posts"), "posts", required=False)
        except ValueError as error:
            raise ImportFileError(path, line, str(error)) from None
        rows.append(
            Observation(
                run_id=run_id,
                observed_at=observed_at,
                platform=platform,
                handle=handle,
                status="ok",
                source="import",
                account_id=(record.get("account_id") or "").strip() or None,
                display_name=(record.get("display_name") or "").strip() or None,
                followers=followers,
                following=following,
                posts=posts,
                detail=detail,
                requested_handle=handle,
            )
        )
    if not rows:
        raise ImportFileError(path, None, "no rows to import (only a header)")
    return run_id, rows


def import_history(
    path: Path, lake: Lake, *, clock: Callable[[], datetime] = utc_now
) -> ImportReport:
    """Validate the whole file, then land it as one file per platform and UTC day."""
    run_id, rows = read_history(path, clock=clock)
    partitions: dict[tuple[str, date], list[Observation]] = defaultdict(list)
    for row in rows:
        partitions[(row.platform, row.observed_at.date())].append(row)
    files = tuple(
        lake.write(observation_key(platform, day, run_id), to_table(partition), PARQUET_OPTIONS)
        for (platform, day), partition in sorted(partitions.items())
    )
    return ImportReport(run_id, len(rows), files)
