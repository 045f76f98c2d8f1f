"""What a snapshot run returns: a typed summary per platform, which the CLI, the demo, the
artifacts, the run's verdict (`run_outcome`) and alerts read. Frozen and picklable: Prefect
persists a deployed run's result (and a failed run's `CountedNothing`) by pickling it."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Final

from followerledger.run_log import RunRecord

__all__ = [
    "CredentialSummary",
    "PlatformSummary",
    "RunSummary",
    "credential_lines",
    "of_run",
    "several_credentials",
    "summarize_run",
]


@dataclasses.dataclass(frozen=True)
class CredentialSummary:
    """What one credential of a platform fetched and spent in a run: its label (never the
    value), accounts by status, requests, quota units and X's estimated cost in dollars."""

    credential: str
    statuses: dict[str, int]
    requests: int
    quota_units: int | None = None
    cost: float | None = None

    @property
    def accounts(self) -> int:
        """Accounts fetched with this credential."""
        return sum(self.statuses.values())


@dataclasses.dataclass(frozen=True)
class PlatformSummary:
    """One platform of a run: accounts by status, what it spent, X's estimated cost in
    dollars, and its rows' most frequent error detail; `credentials` breaks it down per
    credential when the run used more than one (else it is empty)."""

    platform: str
    statuses: dict[str, int]
    requests: int
    quota_units: int | None = None
    cost: float | None = None
    error_detail: str | None = None
    source: str = "api"
    started_at: datetime | None = None
    finished_at: datetime | None = None
    credentials: tuple[CredentialSummary, ...] = ()

    @property
    def accounts(self) -> int:
        """Watched accounts the run reported on (one row each)."""
        return sum(self.statuses.values())


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """One snapshot run: its id, when it started, and each platform's summary."""

    run_id: str
    started_at: datetime
    platforms: tuple[PlatformSummary, ...]


def summarize_run(
    run_id: str,
    started_at: datetime,
    records: Sequence[RunRecord],
    costs: Mapping[str, Decimal | None],
    error_details: Mapping[str, str | None],
    credential_costs: Mapping[tuple[str, str], Decimal | None] | None = None,
) -> RunSummary:
    """The summary of a run from its run records (one per platform, or one per shard and
    platform: summed), costs per platform (and per platform and credential label,
    `credential_costs`) and error details; a platform whose records name more than one
    credential gets its per-credential breakdown."""
    by_platform: dict[str, list[RunRecord]] = {}
    for record in records:
        by_platform.setdefault(record.platform, []).append(record)
    platforms = []
    for platform, group in by_platform.items():
        cost = costs.get(platform)
        platforms.append(
            PlatformSummary(
                platform=platform,
                statuses=_summed_statuses(group),
                requests=sum(record.requests for record in group),
                quota_units=_summed_units(group),
                cost=None if cost is None else float(cost),
                error_detail=error_details.get(platform),
                source="emulator" if all(r.source == "emulator" for r in group) else "api",
                started_at=min(record.started_at for record in group),
                finished_at=max(record.finished_at for record in group),
                credentials=_per_credential(platform, group, credential_costs or {}),
            )
        )
    return RunSummary(run_id, started_at, tuple(platforms))


def several_credentials(records: Sequence[RunRecord]) -> bool:
    """Whether a platform's records name more than one credential (so the run is broken down
    per credential)."""
    labels: dict[str, set[str]] = {}
    for record in records:
        if record.credential is not None:
            labels.setdefault(record.platform, set()).add(record.credential)
    return any(len(used) > 1 for used in labels.values())


def _summed_statuses(records: Sequence[RunRecord]) -> dict[str, int]:
    summed: dict[str, int] = {}
    for record in records:
        for status, count in record.statuses.items():
            summed[status] = summed.get(status, 0) + count
    return dict(sorted(summed.items()))


def _summed_units(records: Sequence[RunRecord]) -> int | None:
    units = [record.quota_units for record in records if record.quota_units is not None]
    return sum(units) if units else None


def _per_credential(
    platform: str,
    records: Sequence[RunRecord],
    costs: Mapping[tuple[str, str], Decimal | None],
) -> tuple[CredentialSummary, ...]:
    """Each credential's share of a platform, in label order; empty unless there are two
    or more."""
    by_label: dict[str, list[RunRecord]] = {}
    for record in records:
        if record.credential is not None:
            by_label.setdefault(record.credential, []).append(record)
    if len(by_label) < 2:
        return ()
    shares = []
    for label in sorted(by_label, key=_label_order):
        group = by_label[label]
        cost = costs.get((platform, label))
        shares.append(
            CredentialSummary(
                credential=label,
                statuses=_summed_statuses(group),
                requests=sum(record.requests for record in group),
                quota_units=_summed_units(group),
                cost=None if cost is None else float(cost),
            )
        )
    return tuple(shares)


_NUMBERED: Final = re.compile(r"^(.*?)(?:\[(\d+)\]|-(\d+))$")


def _label_order(label: str) -> tuple[int, str, int]:
    """The singular variable (or first block), then the numbered ones by number
    (`X_BEARER_TOKENS[2]` before `[10]`, block `-2` before `-10`)."""
    numbered = _NUMBERED.match(label)
    if numbered is None:
        return (0, label, 0)
    return (1, numbered.group(1), int(numbered.group(2) or numbered.group(3)))


def credential_lines(summary: PlatformSummary) -> list[str]:
    """One line per credential of a platform that used several (none otherwise), as the CLI
    prints them under the platform's line."""
    lines = []
    for share in summary.credentials:
        line = f"  {share.credential}: {share.accounts} accounts in {share.requests} requests"
        if share.quota_units is not None:
            line += f", {share.quota_units} quota units"
        if share.cost is not None:
            line += f", ${share.cost:.3f}"
        lines.append(line)
    return lines


def of_run(result: object) -> RunSummary:
    """A snapshot flow's result as the whole run's summary: the flow returns one unless it
    was given one shard (TypeError then: the parent of a fanned-out run summarizes it)."""
    if not isinstance(result, RunSummary):
        raise TypeError(f"a snapshot of one shard returns no run summary: {type(result).__name__}")
    return result
