"""README's capacity section, printed by a command: `python -m bench.capacity [--write]`.

Every figure comes from code or from a measurement, none is typed by hand:

- accounts per hour per budget holder (a credential, an IP address, an instance), from each
  platform's documented `RatePolicy` and the accounts each of its requests reads once
  resolved (its `planned` requests: a batch per request, but one account per request on
  Twitch), and the budget holders 1,000,000 accounts hourly need, at `HEADROOM` of each
  budget;
- storage per year per 1,000 accounts: bytes per observation of a lake laid out as compaction
  leaves it (one file per platform and day; `bench/refresh.py`'s generator), measured here,
  times one row per account per hourly run;
- refresh cost: the refresh section's figures in bench/RESULTS.md (the last full `make bench`).

`--write` replaces the README's section between `BEGIN` and `END`; `tests/test_capacity.py`
fails when the README's text differs from what this prints. As a `make bench` section it
prints the same lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from bench.refresh import FULL_ACCOUNTS, FULL_DAYS, HISTORY_END, Fleet, generate_history
from followerledger.delta_lake import OBSERVATIONS, delta_lake_of
from followerledger.layout import WarehouseLayout
from followerledger.sources import registry
from followerledger.sources.base import Target
from followerledger.sources.platform import Platform

REPO: Final = Path(__file__).resolve().parents[1]
README: Final = REPO / "README.md"
RESULTS: Final = REPO / "bench" / "RESULTS.md"
BEGIN: Final = "<!-- capacity: printed by `python -m bench.capacity`; do not edit by hand -->"
END: Final = "<!-- end of capacity -->"

#: The share of each budget planned for: the rest is left to retries and re-runs.
HEADROOM: Final = 0.9
#: The scale the section answers for.
TARGET_ACCOUNTS: Final = 1_000_000
HOURS_PER_YEAR: Final = 24 * 365
#: Accounts of the lake whose bytes per observation are measured (days: one file each).
STORAGE_ACCOUNTS: Final = 1_000
STORAGE_DAYS: Final = 2

#: Who a budget belongs to when the platform asks for no credential, as each source's
#: contract documents it (sources/throttle.py): a budget per client IP address.
BY_IP: Final = {
    "bluesky": "IP address",
    "mastodon": "instance, per IP address",
}


@dataclasses.dataclass(frozen=True, slots=True)
class PlatformCapacity:
    """What one budget holder of a platform can count in an hour."""

    platform: str
    label: str
    accounts_per_request: float
    limit: int
    per_seconds: float
    holder: str
    one_credential: bool = False
    #: What the budget counts: `requests`, or `calls` where a batch's calls count each.
    unit: str = "requests"

    @property
    def accounts_per_hour(self) -> float:
        """Accounts counted per hour at the documented budget."""
        return self.accounts_per_request * self.limit / self.per_seconds * 3600

    def holders_for(self, accounts: int) -> int:
        """Budget holders (credentials, IP addresses) `accounts` hourly need at `HEADROOM`."""
        return max(1, math.ceil(accounts / (self.accounts_per_hour * HEADROOM)))


def holder_of(spec: Platform) -> str:
    """Who holds a platform's budget: its credential, else its IP address (per instance for
    Mastodon)."""
    if spec.credentials:
        variables = " or ".join(f"`{credential.variable}`" for credential in spec.credentials)
        shared = [
            other.label
            for other in registry.SPECS
            if other.name != spec.name and other.policy.name == spec.policy.name
        ]
        also = f", one budget shared with {', '.join(shared)}" if shared else ""
        return f"credential ({variables}){also}"
    return BY_IP[spec.name]


def accounts_per_request(spec: Platform) -> float:
    """The accounts one request reads in steady state: a full batch of resolved accounts
    over what one more such batch adds to the platform's planned requests (so a once-a-run
    request, Mastodon's version check, does not count)."""
    batch = [Target(f"user{n}@example.social", str(n)) for n in range(spec.batch_size)]

    def requests(count: int) -> int:
        return sum(spec.planned(spec, [batch] * count, {}, 0).values())

    return spec.batch_size / (requests(2) - requests(1))


def capacities() -> list[PlatformCapacity]:
    """Each registered platform's capacity per budget holder."""
    return [
        PlatformCapacity(
            spec.name,
            spec.label,
            accounts_per_request(spec),
            spec.policy.limit,
            spec.policy.per_seconds,
            holder_of(spec),
            bool(spec.credentials) and not any(c.several for c in spec.credentials),
            spec.budget_unit,
        )
        for spec in registry.SPECS
    ]


def bytes_per_observation(folder: Path) -> float:
    """Bytes per row of the observations table's files, for a generated lake of
    `STORAGE_ACCOUNTS` accounts over `STORAGE_DAYS` whole days of hourly runs, laid out as
    compaction leaves it (one file per platform and day)."""
    lake = delta_lake_of(WarehouseLayout.at(folder / "warehouse"))
    start = HISTORY_END.replace(hour=0) - timedelta(days=STORAGE_DAYS)
    rows = generate_history(lake, Fleet(STORAGE_ACCOUNTS), start, STORAGE_DAYS * 24)
    files = lake.snapshot(OBSERVATIONS).files
    assert sum(file.rows for file in files) == rows
    return sum(file.size for file in files) / rows


def refresh_figures(results: Path = RESULTS) -> dict[str, float]:
    """The refresh section's figures table in bench/RESULTS.md (`| name | value |` rows)."""
    return section_figures("Refresh", results)


def section_figures(title: str, results: Path = RESULTS) -> dict[str, float]:
    """The figures table (`| name | value |` rows) of the bench/RESULTS.md section whose
    title starts with `title`."""
    text = results.read_text(encoding="utf-8")
    section = text.partition(f"\n## {title}")[2].partition("\n## ")[0]
    if not section:
        raise SystemExit(f"{results} has no {title} section: run `python -m bench` first")
    figures = {}
    for name, value in re.findall(r"^\| (\w+) \| ([0-9.,]+) \|$", section, flags=re.M):
        figures[name] = float(value.replace(",", ""))
    return figures


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _budget(item: PlatformCapacity) -> str:
    seconds = item.per_seconds
    span = f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"
    per = item.accounts_per_request
    each = f"{per:g} account" + ("" if per == 1 else "s")
    return f"{item.limit:,} {item.unit} / {span}, {each} each"


#: "a quarter each" for 4 platforms.
_SHARES: Final = {2: "a half", 3: "a third", 4: "a quarter", 5: "a fifth", 6: "a sixth"}
_SHARES_MORE: Final = {7: "a seventh", 8: "an eighth", 9: "a ninth", 10: "a tenth"}


def share_word(parts: int) -> str:
    """'a quarter' for 4, 'an eighth' for 8, '1/12' beyond."""
    return {**_SHARES, **_SHARES_MORE}.get(parts, f"1/{parts}")


def section(bytes_per_row: float, refresh: dict[str, float]) -> list[str]:
    """The README's capacity section, as lines (Markdown)."""
    items = capacities()
    even = TARGET_ACCOUNTS // len(items)
    share = share_word(len(items))
    lines = [
        BEGIN,
        "",
        "Each platform's documented budget (`sources/*.py`), one request per batch at the "
        "API's maximum batch size (Twitch: one request per account, its follower total; "
        "Instagram and Facebook: 50 calls per batch request, and Meta's budget counts each "
        "call), "
        f"planned at {HEADROOM:.0%} of each budget (the rest for retries):",
        "",
        f"| platform | budget | per | accounts per hour (whole budget) | holders for "
        f"{TARGET_ACCOUNTS:,} hourly | for {even:,} hourly ({share} each) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for item in items:
        lines.append(
            f"| {item.label} | {_budget(item)} | {item.holder} | "
            f"{_count(item.accounts_per_hour)} | {item.holders_for(TARGET_ACCOUNTS)} | "
            f"{item.holders_for(even)} |"
        )
    by_ip = [item for item in items if item.platform in BY_IP]
    workers = max(item.holders_for(TARGET_ACCOUNTS) for item in by_ip)
    workers_even = max(item.holders_for(even) for item in by_ip)
    per_year = bytes_per_row * 1000 * HOURS_PER_YEAR
    observations = FULL_ACCOUNTS * FULL_DAYS * 24
    lines += [
        "",
        "Credentials add capacity: X tokens and YouTube keys (of different Google Cloud "
        "projects: the quota is per project) each bring their own budget, and a run's shards "
        "are spread over them (`auto` takes at least one shard per credential), so one worker "
        "can hold several. Budgets per IP address (Bluesky; Mastodon, per instance) do not: "
        "with a Prefect server they are one limit shared by every worker (workers behind one "
        "address must not spend it twice), and one Mastodon instance is one shard, so "
        f"{TARGET_ACCOUNTS:,} accounts of one such platform hourly (it would take "
        f"{workers} addresses) does not fit in an hour; {share} each needs {workers_even}, "
        "so Mastodon accounts must be spread over instances (each instance its own budget) "
        "and Bluesky's fits one address.",
        *_one_credential_lines(items, even, share),
        "",
        *_workers_line(),
        "",
        f"Storage: {bytes_per_row:.1f} bytes per observation once compacted (measured on "
        f"the refresh benchmark's generated lake, {STORAGE_ACCOUNTS:,} accounts, one file per "
        "platform and day: generated names and counts, which real ones may not compress "
        "like), so one account counted hourly "
        f"for a year is {bytes_per_row * HOURS_PER_YEAR / 1e3:,.0f} kB, and "
        f"**{per_year / 1e6:,.0f} MB per year per 1,000 accounts** "
        f"({per_year * TARGET_ACCOUNTS / 1000 / 1e9:,.0f} GB a year at {TARGET_ACCOUNTS:,}).",
        "",
        f"Refresh (bench/RESULTS.md: {FULL_ACCOUNTS:,} accounts hourly, {observations:,} "
        f"observations a year): after one new run {refresh['incremental_s_365d']:.2f} s on a "
        f"year of history, {refresh['incremental_s_1825d']:.2f} s on five; `refresh --full` "
        f"{refresh['full_s_365d']:.0f} s on a year, {refresh['full_s_1825d']:.0f} s on five.",
        "",
        END,
    ]
    return lines


def _one_credential_lines(items: Sequence[PlatformCapacity], even: int, share: str) -> list[str]:
    """What a platform with a single credential (Twitch: one app) can count hourly."""
    lines = []
    for item in items:
        if item.one_credential:
            planned = item.accounts_per_hour * HEADROOM
            lines += [
                "",
                f"{item.label} takes one credential (its budget is per app, one per run), so "
                f"one run counts at most {_count(planned)} of its accounts an hour: "
                f"{TARGET_ACCOUNTS:,} would take {item.holders_for(TARGET_ACCOUNTS)} apps, "
                f"{share} each {item.holders_for(even)}, and a run reads it with one.",
            ]
    return lines


def _workers_line() -> list[str]:
    """How many workers an hourly run of `TARGET_ACCOUNTS` needs, from the largest snapshot
    bench/RESULTS.md measured (scaled linearly to `TARGET_ACCOUNTS` when it is smaller, and
    said so)."""
    figures = section_figures("Snapshot at scale")
    measured = sorted(
        int(name.removeprefix("wall_s_")) for name in figures if name.startswith("wall_s_")
    )
    if not measured:
        return ["Workers: no snapshot at scale in bench/RESULTS.md yet."]
    size = measured[-1]
    wall = figures[f"wall_s_{size}"]
    shards = figures.get(f"shards_{size}", 1)
    estimate = wall * TARGET_ACCOUNTS / size
    scaled = (
        ""
        if size == TARGET_ACCOUNTS
        else f"; {TARGET_ACCOUNTS:,} would take about {estimate:.0f} s at that rate"
        " (scaled, not measured: no 1M run in this bench)"
    )
    peak = figures.get(f"peak_rss_mb_scale_{size}")
    memory = f", at a peak of {peak:,.0f} MB of memory" if peak is not None else ""
    if size == TARGET_ACCOUNTS:
        advice = (
            f"so one worker's process covers {3600 / wall:.0f} times the hourly need{memory}: "
            "the credentials above, not the workers, bound it; run two or more workers for "
            "redundancy (a dead worker's shards are run again by the others), or fan the run "
            "out (`hourly-fanout`) so that no machine holds a million accounts' memory."
        )
    else:
        per_worker = size
        workers = math.ceil(TARGET_ACCOUNTS / per_worker)
        advice = (
            f"so until a million accounts run in one process, fan a million out over "
            f"{workers} shards of at most {per_worker:,} accounts (`FOLLOWERLEDGER_SHARDS="
            f"{workers}`, the size measured to work), on workers of at least "
            f"{workers} slots in all; the credentials above bound the hourly rate."
        )
    return [
        f"Workers: one process snapshotted {size:,} accounts (a quarter per platform, "
        f"{shards:.0f} shards, 50 ms per answer, unthrottled emulator) in {wall:.0f} s "
        f"(bench/RESULTS.md){scaled}; {advice}"
    ]


def measured_section() -> list[str]:
    """The section with its storage figure measured now."""
    return section(measured_bytes_per_observation(), refresh_figures())


def measured_bytes_per_observation() -> float:
    """`bytes_per_observation` of a lake generated in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="bench-capacity-") as folder:
        return bytes_per_observation(Path(folder))


def replaced(readme: str, lines: Sequence[str]) -> str:
    """The README's text with its capacity section replaced by `lines`."""
    before, found, rest = readme.partition(BEGIN)
    _, ended, after = rest.partition(END)
    if not found or not ended:
        raise SystemExit(f"README.md has no capacity section ({BEGIN} ... {END})")
    return before + "\n".join(lines) + after


def run(quick: bool = False) -> dict[str, Any]:
    """The `make bench` section: print the section (its refresh figures are the committed
    bench/RESULTS.md's, not this run's); its figures."""
    del quick  # the same small lake either way
    per_row = measured_bytes_per_observation()
    lines = section(per_row, refresh_figures())
    print("\n".join(lines[1:-1]).strip())
    figures: dict[str, Any] = {
        f"accounts_per_hour_{item.platform}": item.accounts_per_hour for item in capacities()
    }
    figures["bytes_per_observation"] = per_row
    figures["mb_per_year_per_1000_accounts"] = per_row * 1000 * HOURS_PER_YEAR / 1e6
    return figures


def main() -> None:
    """Print the capacity section, or write it into README.md."""
    parser = argparse.ArgumentParser(prog="python -m bench.capacity")
    parser.add_argument("--write", action="store_true", help="replace README.md's section")
    args = parser.parse_args()
    lines = measured_section()
    if args.write:
        README.write_text(replaced(README.read_text(encoding="utf-8"), lines), encoding="utf-8")
        print(f"capacity section written to {README}")
    else:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
