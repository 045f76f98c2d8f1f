"""The whole pipeline offline: emulator, history import, a real snapshot flow, refresh, a table."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from followerledger.catalog import catalog_path
from followerledger.emulator import EmulatorServer, EmulatorState, emulator_environment
from followerledger.emulator.world import (
    EmulatedAccount,
    World,
    followers_at,
    following_at,
    posts_at,
)
from followerledger.history_import import import_history
from followerledger.lake import Lake
from followerledger.query import render, run_query
from followerledger.refresh import refresh
from followerledger.report import report_path, write_report
from followerledger.settings import Settings, load_settings
from followerledger.sources.http import utc_now
from followerledger.sources.mastodon import split_handle, stored_id
from followerledger.watchlist import Watchlist, load_watchlist

MARKER: Final = ".demo-warehouse"
#: Never deleted by the demo: the tracked README, and a local Prefect server's home (its
#: database may be in use).
KEPT: Final = frozenset({"README.md", "_prefect"})
HISTORY_DAYS: Final = 90
HISTORY_STEP: Final = timedelta(hours=6)

SUMMARY_SQL: Final = """
with latest_growth as (
    select account_growth.*
    from account_growth
    join accounts
        on accounts.account_key = account_growth.account_key
        and account_growth.day = cast(timezone('UTC', accounts.counted_at) as date)
)

select
    accounts.brand,
    accounts.platform,
    accounts.handle,
    accounts.status,
    latest_growth.followers,
    latest_growth.change_30d,
    round(latest_growth.pct_change_30d, 2) as pct_change_30d
from accounts
left join latest_growth on latest_growth.account_key = accounts.account_key
where accounts.brand is not null
order by accounts.brand, accounts.platform, accounts.handle
"""


class DemoRefused(RuntimeError):
    """The configured warehouse holds data the demo must not touch."""


@dataclasses.dataclass(frozen=True, slots=True)
class DemoResult:
    """Where the demo put things and how long it took."""

    warehouse: Path
    catalog: Path
    report: Path
    seconds: float


def write_generated_history(
    watchlist: Watchlist,
    path: Path,
    now: datetime,
    world: World | None = None,
    *,
    days: int = HISTORY_DAYS,
    step: timedelta = HISTORY_STEP,
) -> int:
    """A CSV export of the emulator's accounts: every `step` over the last `days` days.

    Like an export from another tracker it carries account ids, and each row names the
    handle the account had then, so a rename shows in the history.
    """
    world = world or World()
    start = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    rows = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["observed_at", "platform", "handle", "followers", "following", "posts", "account_id"]
        )
        for account in watchlist.accounts:
            platform, original = account.platform, account.handle
            current = world.by_original(platform, original, now)
            if current.state != "ok" or current.hidden:
                continue
            moment = start
            while moment < now - timedelta(hours=1):
                then = world.by_original(platform, original, moment)
                writer.writerow(
                    [
                        moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        platform,
                        then.handle,
                        followers_at(platform, original, moment),
                        following_at(platform, original, moment),
                        posts_at(platform, original, moment),
                        stored_account_id(then),
                    ]
                )
                rows += 1
                moment += step
    return rows


def stored_account_id(account: EmulatedAccount) -> str:
    """The account id as the pipeline stores it (Mastodon ids are per instance)."""
    if account.platform == "mastodon":
        return stored_id(split_handle(account.original)[1], account.id)
    return account.id


def prepare_warehouse(warehouse: Path) -> None:
    """Empty a demo warehouse (or create one); refuse a warehouse holding other data."""
    if warehouse.exists() and any(warehouse.iterdir()):
        if not (warehouse / MARKER).exists() and any(
            item.name != "README.md" for item in warehouse.iterdir()
        ):
            raise DemoRefused(
                f"{warehouse} already holds data that the demo did not create; set "
                "FOLLOWERLEDGER_WAREHOUSE to another folder to run the demo"
            )
        for item in warehouse.iterdir():
            if item.name in KEPT:
                continue
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            else:
                item.unlink()
    warehouse.mkdir(parents=True, exist_ok=True)
    (warehouse / MARKER).write_text("created by `followerledger demo`; safe to delete\n")


def run_demo(
    say: Callable[[str], None] = print,
    examples: Path = Path("examples"),
    clock: Callable[[], datetime] = utc_now,
) -> DemoResult:
    """Run the pipeline end to end against the built-in emulator, offline."""
    started = time.perf_counter()
    settings = load_settings()
    watchlist = load_watchlist(settings.watchlist)
    prepare_warehouse(settings.warehouse)
    lake = Lake(settings.lake)

    emulator_state = EmulatorState()
    emulator_state.preload_watchlist(watchlist)
    with (
        EmulatorServer(emulator_state) as emulator,
        _environment(emulator_environment(emulator.url)),
    ):
        # The snapshot flow reads its settings from the environment, like a deployment does.
        settings = load_settings()
        say(f"emulator: {emulator.url} (X, Bluesky, Mastodon, YouTube; no network needed)")

        history = settings.warehouse / "demo" / "history-90d.csv"
        rows = write_generated_history(watchlist, history, clock(), emulator_state.world)
        report = import_history(history, lake, clock=clock)
        say(f"import: {rows} generated rows over {HISTORY_DAYS} days ({len(report.files)} files)")
        dell_2008 = examples / "dell-2008.csv"
        if dell_2008.exists():
            report = import_history(dell_2008, lake, clock=clock)
            say(f"import: {dell_2008} ({report.rows} rows, the 2008 blog post's figures)")

        say("snapshot: running the Prefect flow against the emulator …")
        from followerledger.flows.snapshot import snapshot_flow  # Prefect loads only here

        result = snapshot_flow()
        for platform in result["platforms"]:
            say(
                f"snapshot: {platform['platform']}: {platform['statuses']} "
                f"in {platform['requests']} requests"
            )

    report_refresh = refresh(
        settings.warehouse,
        lake,
        watchlist,
        full=True,
        parameters=settings.refresh_parameters,
        grace=settings.reader_grace,
    )
    say(f"refresh: marts rebuilt in {report_refresh.seconds:.2f} s")
    catalog = catalog_path(settings.warehouse)
    columns, rows_ = run_query(catalog, SUMMARY_SQL)
    say("")
    say(render(columns, rows_, "table"))
    say("")
    written = write_report(catalog, report_path(settings.warehouse), now=clock())
    say(f"report: {written.path} (open it in a browser; `followerledger report` rewrites it)")
    say("")
    say(_next_steps(settings))
    return DemoResult(settings.warehouse, catalog, written.path, time.perf_counter() - started)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _next_steps(settings: Settings) -> str:
    catalog = catalog_path(settings.warehouse)
    return "\n".join(
        [
            "Explore further:",
            '  .venv/bin/followerledger query "select * from accounts"',
            '  .venv/bin/followerledger query "select * from daily_followers limit 5" --format csv',
            f"  .venv/bin/duckdb -readonly {catalog}",
            "  .venv/bin/followerledger watchlist list",
        ]
    )
