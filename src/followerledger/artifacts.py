"""What a snapshot run reports about itself: a markdown summary and a per-platform table.

Pure functions of the run's summary (what the snapshot flow returns) and the account
changes read from the lake (`run_changes.run_changes`: only the movers and the accounts
without a count, reduced in SQL; or every account's, `run_changes.account_changes`); the flow
publishes them as Prefect artifacts, readable in the UI and with `prefect artifact ls`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from followerledger.run_changes import AccountChange, RunChanges
from followerledger.run_outcome import counted_nothing, partly_counted
from followerledger.run_summary import CredentialSummary, PlatformSummary, RunSummary

#: Artifact keys: Prefect keeps every run's version under one key.
SUMMARY_KEY: Final = "snapshot-summary"
TABLE_KEY: Final = "snapshot-platforms"

#: Statuses with a column of their own; the rarer ones are counted under `other`.
STATUS_COLUMNS: Final = ("ok", "not_found", "suspended", "error")
MOVERS: Final = 10
UNCOUNTED: Final = 20


def platform_rows(platforms: Sequence[PlatformSummary]) -> list[dict[str, Any]]:
    """One row per platform: accounts by status, requests, and cost when the run reports it;
    when a platform used several credentials, a `credential` column, `all` on the
    platform's row, followed by one row per credential (its label, never the value)."""
    with_cost = any(summary.cost is not None for summary in platforms)
    with_quota = any(summary.quota_units is not None for summary in platforms)
    with_credentials = any(summary.credentials for summary in platforms)
    rows = []
    for summary in platforms:
        shares: list[tuple[str | None, CredentialSummary | PlatformSummary]] = [
            ("all" if summary.credentials else None, summary)
        ]
        shares += [(share.credential, share) for share in summary.credentials]
        for credential, part in shares:
            statuses: Mapping[str, int] = part.statuses
            row: dict[str, Any] = {"platform": summary.platform}
            if with_credentials:
                row["credential"] = credential
            row["accounts"] = part.accounts
            row.update({status: statuses.get(status, 0) for status in STATUS_COLUMNS})
            row["other"] = part.accounts - sum(statuses.get(s, 0) for s in STATUS_COLUMNS)
            row["requests"] = part.requests
            if with_quota:
                row["quota_units"] = part.quota_units
            if with_cost:
                row["cost"] = part.cost
            rows.append(row)
    return rows


def summary_markdown(
    result: RunSummary,
    changes: RunChanges | Sequence[AccountChange],
    report_url: str | None = None,
) -> str:
    """The run summary: whether the run failed (a platform counted nothing) or partly
    counted, accounts by status per platform, requests, cost, movers, gaps, and a link to
    the latest HTML report when there is one (`report_url`)."""
    if not isinstance(changes, RunChanges):
        changes = RunChanges.of(changes, MOVERS, UNCOUNTED)
    platforms = result.platforms
    rows = platform_rows(platforms)
    lines = [
        f"# Snapshot run `{result.run_id}`",
        "",
        f"Started {_moment(result.started_at)}: "
        f"{sum(p.accounts for p in platforms)} accounts on {len(platforms)} platform(s), "
        f"{sum(p.requests for p in platforms)} request(s).",
        "",
    ]
    failed = counted_nothing(platforms)
    if failed:
        lines += [f"**This run failed:** {'; '.join(failed)}.", ""]
    partial = partly_counted(platforms)
    if partial:
        lines += [f"**Partly counted:** {'; '.join(partial)}.", ""]
    if report_url is not None:
        lines += [
            f"Latest report: [{report_url}]({report_url}) (charts and tables, rewritten "
            "after each hourly refresh and by `followerledger report`).",
            "",
        ]
    lines += [
        *_table(rows),
        "",
        "## Biggest movers since the previous run",
        "",
    ]
    movers = changes.movers[:MOVERS]
    if movers:
        lines += _table(
            [
                {
                    "account": f"{item.platform} {item.handle}",
                    "brand": item.brand,
                    "followers": f"{item.followers:,}",
                    "change": f"{item.change:+,}",
                    "change %": _percent(item.change_percent),
                    "previous count at": _moment(item.previous_at),
                }
                for item in movers
            ]
        )
    else:
        lines.append("No account's count moved since its previous count.")
    uncounted, total = changes.uncounted[:UNCOUNTED], changes.uncounted_total
    if uncounted:
        lines += ["", "## Accounts without a count in this run", ""]
        lines += _table(
            [
                {
                    "account": f"{item.platform} {item.handle}",
                    "brand": item.brand,
                    "status": item.status,
                    "detail": item.detail or "",
                }
                for item in uncounted
            ]
        )
        if total > len(uncounted):
            lines += ["", f"… and {total - len(uncounted)} more."]
    return "\n".join(lines) + "\n"


def _moment(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _percent(value: float | None) -> str:
    if value is None:
        return ""
    if 0 < abs(value) < 0.005:
        return f"{'+' if value > 0 else '-'}<0.01%"
    return f"{value:+.2f}%"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = f"{value:,}" if isinstance(value, int) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """A markdown table of rows sharing their keys."""
    if not rows:
        return ["(none)"]
    header = list(rows[0])
    return [
        "| " + " | ".join(name.replace("_", " ") for name in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(_cell(row[name]) for name in header) + " |" for row in rows),
    ]
