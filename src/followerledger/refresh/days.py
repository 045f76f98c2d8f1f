"""Day arithmetic of a refresh: spans of UTC days, and days folded into ranges to recompute."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

#: Days closer than this are recomputed in one query rather than several.
_MERGE_GAP_DAYS = 7


def day_ranges(days: Iterable[date], gap: int = _MERGE_GAP_DAYS) -> list[tuple[date, date]]:
    """Sorted days folded into inclusive ranges; days closer than `gap` share a range."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and (day - ranges[-1][1]).days <= gap:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def days_between(start: date, end: date) -> list[date]:
    """Every day from start to end, inclusive."""
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]
