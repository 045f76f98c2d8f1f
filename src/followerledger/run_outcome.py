"""When a snapshot run counts: the rule that turns a run whose platform counted nothing into a
failed run, and the one-line reasons the CLI, the flow state, the summary and alerts share.

The rule: rows always land first (nothing is lost). Then a platform whose every account got
`error` "counted nothing", and the run fails with a message naming the platform and the most
frequent error detail of its rows (which names the setting to fix when the platform refused
a credential). Accounts that are not found or suspended are data, not errors; a platform
where only some accounts got `error` leaves the run completed, and is reported as such.

Pure functions of the run's summary (`run_summary.RunSummary`, what the snapshot flow
returns).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from followerledger.run_summary import PlatformSummary, RunSummary

__all__ = [
    "CountedNothing",
    "counted_nothing",
    "partly_counted",
]


def _cause(summary: PlatformSummary) -> str:
    return summary.error_detail or "no detail recorded"


def counted_nothing(platforms: Sequence[PlatformSummary]) -> list[str]:
    """One line per platform whose every account got `error`: 'x counted nothing: <cause>'."""
    return [
        f"{summary.platform} counted nothing: {_cause(summary)}"
        for summary in platforms
        if summary.accounts and summary.statuses.get("error", 0) == summary.accounts
    ]


def partly_counted(platforms: Sequence[PlatformSummary]) -> list[str]:
    """One line per platform where some, not all, accounts got `error`."""
    return [
        f"{summary.platform}: {errors} of {summary.accounts} accounts got error ({_cause(summary)})"
        for summary in platforms
        if 0 < (errors := summary.statuses.get("error", 0)) < summary.accounts
    ]


class CountedNothing(Exception):
    """A snapshot run landed its rows, but at least one platform counted nothing.

    The data of the Failed state the snapshot flow ends with (so the failed-run alert fires
    with this message); `result` is what the run would have returned.
    """

    def __init__(self, result: RunSummary) -> None:
        self.result = result
        rows = sum(summary.accounts for summary in result.platforms)
        reasons = "; ".join(counted_nothing(result.platforms))
        super().__init__(f"run {result.run_id} landed {rows} rows but {reasons}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Prefect may pickle the exception with the run's state.
        return (type(self), (self.result,))
