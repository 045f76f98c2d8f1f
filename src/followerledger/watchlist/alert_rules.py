"""The watchlist's optional `alerts:` section: which alert rules apply, and their values."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from followerledger.handles import shown
from followerledger.observation import MAX_COUNT
from followerledger.watchlist.lines import line_of
from followerledger.watchlist.model import AlertRules, Problem

#: The longest `alerts.stale_hours` taken: a year (null turns the rule off).
MAX_STALE_HOURS: Final = 24 * 366


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _milestone(value: Any) -> bool:
    """A follower count an account can reach: a whole number from 1 to MAX_COUNT."""
    if isinstance(value, float):
        return value.is_integer() and 0 < value <= MAX_COUNT
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_COUNT


class _Refused(ValueError):
    """A rule's value is not one it takes; the message says what it takes."""


def _milestones(value: Any) -> tuple[int, ...]:
    values = [] if value is None else value
    if not isinstance(values, list) or not all(_milestone(item) for item in values):
        raise _Refused(f"alerts.milestones must be a list of whole numbers from 1 to {MAX_COUNT:,}")
    return tuple(sorted({int(v) for v in values}))


def _drop_percent(value: Any) -> float | None:
    if value is not None and not (_number(value) and value <= 100):
        raise _Refused("alerts.drop_percent must be a number above 0 up to 100")
    return None if value is None else float(value)


def _stale_hours(value: Any) -> float | None:
    if value is not None and not (_number(value) and value <= MAX_STALE_HOURS):
        raise _Refused(
            f"alerts.stale_hours must be hours above 0, up to {MAX_STALE_HOURS} (a year)"
        )
    return None if value is None else float(value)


def _failed_runs(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Refused("alerts.failed_runs must be true or false")
    return value


#: Each rule's reader: the value it keeps, or `_Refused`.
_RULES: Final[dict[str, Callable[[Any], Any]]] = {
    "milestones": _milestones,
    "drop_percent": _drop_percent,
    "stale_hours": _stale_hours,
    "failed_runs": _failed_runs,
}


def parse_alerts(document: Any, path: Path, problems: list[Problem]) -> AlertRules:
    """The `alerts:` section; every key is optional, and null turns a rule off."""
    section = document.get("alerts")
    if section is None:
        return AlertRules()
    if not isinstance(section, dict):
        problems.append(
            Problem(path, line_of(document, key="alerts"), "'alerts' must map rule names to values")
        )
        return AlertRules()
    rules = AlertRules()
    for key, value in section.items():
        line = line_of(section, key=key)
        read = _RULES.get(key)
        if read is None:
            problems.append(
                Problem(
                    path,
                    line,
                    f"unknown alert rule {shown(key)}: use milestones, drop_percent, stale_hours "
                    "or failed_runs",
                )
            )
            continue
        try:
            rules = dataclasses.replace(rules, **{key: read(value)})
        except _Refused as refused:
            problems.append(Problem(path, line, str(refused)))
    return rules
