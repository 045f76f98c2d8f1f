"""The whole pipeline offline: emulator, history import, a real snapshot flow, refresh, a table.

The demo has a warehouse of its own (`warehouse/demo/` unless told another folder), and
settings built for it alone: nothing of the user's environment, `.env` or real warehouse is
read. Its marker lists every run it wrote; it resets a folder only when every row there is
one of them. Its snapshot flow runs on a temporary Prefect server of its own (its database in
the folder's `_prefect_demo/`), never on the one `PREFECT_API_URL` or a Prefect profile
names: that server's history, automations and shared rate budgets never see it.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import os
import shlex
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import pyarrow.parquet as pq

from followerledger.configured_refresh import refresh_configured
from followerledger.emulator import EmulatorServer, EmulatorState, emulator_environment
from followerledger.emulator.world import (
    EmulatedAccount,
    World,
    followers_at,
    following_at,
    posts_at,
)
from followerledger.history_import import import_history, run_id_for
from followerledger.layout import (
    DEMO_HISTORY_NAME,
    DEMO_MARKER_NAME,
    DEMO_PREFECT_HOME_NAME,
    DEMO_WAREHOUSE,
    DERIVED_NAMES,
    PREFECT_HOME_NAME,
    WarehouseLayout,
)
from followerledger.prefect_server import own_server
from followerledger.query import render, run_query
from followerledger.report import write_report
from followerledger.run_plan import new_run_id
from followerledger.run_summary import of_run
from followerledger.settings import Settings, load_settings
from followerledger.sources import registry
from followerledger.sources.http import utc_now
from followerledger.sources.mastodon import split_handle, stored_id
from followerledger.watchlist import Watchlist, load_watchlist

#: Never deleted by the demo: the tracked README, a local Prefect server's home (its
#: database may be in use), and the demo's own Prefect server's home.
KEPT: Final = frozenset({"README.md", PREFECT_HOME_NAME, DEMO_PREFECT_HOME_NAME})
#: The demo follows the project's example watchlist, whatever FOLLOWERLEDGER_WATCHLIST says.
DEMO_WATCHLIST: Final = Path("watchlist.yaml")
#: What the demo writes at the top of its folder; anything else there stops a reset.
DEMO_ENTRIES: Final = frozenset({DEMO_MARKER_NAME, DEMO_HISTORY_NAME}) | DERIVED_NAMES
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
    """Create the demo's folder, or empty one holding only what the demo wrote; otherwise
    raise DemoRefused, having deleted nothing."""
    if warehouse.exists() and any(item.name not in KEPT for item in warehouse.iterdir()):
        _check_only_demo_data(warehouse)
        for item in warehouse.iterdir():
            if item.name in KEPT:
                continue
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            else:
                item.unlink()
    warehouse.mkdir(parents=True, exist_ok=True)
    _write_marker(warehouse, {})


def record_runs(warehouse: Path, runs: dict[str, str]) -> None:
    """Add runs (run id -> source of their rows) to the folder's marker; called before
    the rows are written, so a demo stopped half-way can still reset what it left."""
    _write_marker(warehouse, _read_marker(warehouse) | runs)


def _check_only_demo_data(warehouse: Path) -> None:
    """Raise DemoRefused unless the folder has the demo's marker, only the entries the demo
    writes, and only rows of the runs the marker lists."""
    if not WarehouseLayout.at(warehouse).demo_marker.exists():
        raise DemoRefused(
            f"{warehouse} holds data but no {DEMO_MARKER_NAME} marker, so the demo did not "
            "create it; nothing was deleted: run the demo with --warehouse naming a new or "
            "empty folder"
        )
    runs = _read_marker(warehouse)
    for item in sorted(warehouse.iterdir()):
        if item.name not in DEMO_ENTRIES | KEPT and not item.name.startswith("."):
            raise DemoRefused(
                f"{warehouse} holds {item.name}, which the demo does not write; nothing was "
                "deleted: move it away, or run the demo with --warehouse naming another folder"
            )
    for path in sorted(WarehouseLayout.at(warehouse).local_lake.rglob("*.parquet")):
        for run_id, source in _runs_in(path):
            if run_id is None or runs.get(run_id) != source:
                raise DemoRefused(
                    f"{warehouse} holds rows the demo did not write (run {run_id}, source "
                    f"{source}, in {path.relative_to(warehouse)}); nothing was deleted: move "
                    "that data away, or run the demo with --warehouse naming another folder"
                )


def _runs_in(path: Path) -> list[tuple[str | None, str | None]]:
    """The distinct (run id, source) pairs of a Parquet file's rows (None: no such column)."""
    try:
        names = set(pq.read_schema(path).names)
        table = pq.read_table(path, columns=[c for c in ("run_id", "source") if c in names])
    except (OSError, ValueError) as error:
        raise DemoRefused(
            f"{path} cannot be read as Parquet ({str(error).splitlines()[0]}); nothing was "
            "deleted: move it away, or run the demo with --warehouse naming another folder"
        ) from None
    pairs = table.group_by(table.column_names).aggregate([]).to_pylist()
    return [(pair.get("run_id"), pair.get("source")) for pair in pairs]


def _read_marker(warehouse: Path) -> dict[str, str]:
    path = WarehouseLayout.at(warehouse).demo_marker
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        runs = content["runs"]
        if not all(isinstance(v, str) for v in runs.values()):
            raise TypeError(runs)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise DemoRefused(
            f"{path} does not list the runs the demo wrote (an older demo's marker?); nothing "
            "was deleted: delete that folder yourself if it holds only demo data, or run the "
            "demo with --warehouse naming another folder"
        ) from None
    return dict(runs)


def _write_marker(warehouse: Path, runs: dict[str, str]) -> None:
    path = WarehouseLayout.at(warehouse).demo_marker
    temporary = path.with_name(f"{DEMO_MARKER_NAME}.tmp")
    content = {"written_by": "followerledger demo; safe to delete with this folder", "runs": runs}
    temporary.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    temporary.replace(path)


def demo_environment(warehouse: Path, emulator_url: str) -> dict[str, str]:
    """Every setting the demo runs with, as environment variables: its own warehouse and
    lake, the emulator's URLs and placeholder credentials, alerts off, defaults otherwise,
    and its own Prefect home and profiles file (`own_server` sets the rest of Prefect's)."""
    home = prefect_home(warehouse)
    values = {
        # Read when Prefect is first imported, which is within the demo: the user's profile
        # is not loaded and nothing is created under ~/.prefect.
        "PREFECT_HOME": str(home),
        "PREFECT_PROFILES_PATH": str(home / "profiles.toml"),
        # That file does not exist, so Prefect's default profiles apply; the user's active
        # profile would not be found there (and be warned about).
        "PREFECT_PROFILE": "ephemeral",
        "FOLLOWERLEDGER_WAREHOUSE": str(warehouse),
        "FOLLOWERLEDGER_LAKE": WarehouseLayout.at(warehouse).lake_uri,
        "FOLLOWERLEDGER_WATCHLIST": str(DEMO_WATCHLIST),
        "FOLLOWERLEDGER_ALERT_URLS": "",
        **emulator_environment(emulator_url),
    }
    # Every other setting is pinned to its default too: the environment outranks `.env`, so
    # nothing of the user's `.env` (secrets, a lake elsewhere, budgets) reaches the demo.
    for field in Settings.model_fields.values():
        names = getattr(field.validation_alias, "choices", [])
        name = str(names[0])
        if name not in values:
            values[name] = "" if field.default is None else str(field.default)
    return values


def prefect_home(warehouse: Path) -> Path:
    """The home (and SQLite database) of the demo's own Prefect server."""
    return WarehouseLayout.at(warehouse).demo_prefect_home


def run_demo(
    say: Callable[[str], None] = print,
    examples: Path = Path("examples"),
    clock: Callable[[], datetime] = utc_now,
    warehouse: Path = DEMO_WAREHOUSE,
) -> DemoResult:
    """Run the pipeline end to end against the built-in emulator, offline, in `warehouse`
    (a folder of the demo's own: see `prepare_warehouse`)."""
    started = time.perf_counter()
    if not DEMO_WATCHLIST.is_file():
        raise DemoRefused(
            f"{DEMO_WATCHLIST}: not found; the demo reads the watchlist in the current folder "
            "(FOLLOWERLEDGER_WATCHLIST is not used): run it from the project's folder"
        )
    watchlist = load_watchlist(DEMO_WATCHLIST)
    prepare_warehouse(warehouse)
    say(
        f"demo warehouse: {warehouse} (its own folder; the warehouse your settings name "
        "is neither read nor written)"
    )

    emulator_state = EmulatorState()
    emulator_state.preload_watchlist(watchlist)
    with (
        EmulatorServer(emulator_state) as emulator,
        # The snapshot flow reads its settings from the environment, like a deployment does.
        environment(demo_environment(warehouse, emulator.url)),
    ):
        settings = load_settings()
        labels = ", ".join(spec.label for spec in registry.SPECS)
        say(f"emulator: {emulator.url} ({labels}; no network needed)")

        history = settings.layout.demo_history
        rows = write_generated_history(watchlist, history, clock(), emulator_state.world)
        record_runs(warehouse, {run_id_for(history.read_bytes()): "import"})
        report = import_history(history, settings.layout, clock=clock)
        say(
            f"import: {rows} generated rows over {HISTORY_DAYS} days "
            f"({len(report.partitions)} partitions, table version {report.version})"
        )
        dell_2008 = examples / "dell-2008.csv"
        if dell_2008.exists():
            record_runs(warehouse, {run_id_for(dell_2008.read_bytes()): "import"})
            report = import_history(dell_2008, settings.layout, clock=clock)
            say(f"import: {dell_2008} ({report.rows} rows, the 2008 blog post's figures)")

        run_id = new_run_id(utc_now())
        record_runs(warehouse, {run_id: "emulator"})
        with own_server(prefect_home(warehouse)) as api_url:
            say(
                f"snapshot: on a temporary Prefect server of the demo's own, {api_url} "
                "(the server PREFECT_API_URL or your Prefect profile names is not used)"
            )
            say("snapshot: running the Prefect flow against the emulator …")
            from followerledger.flows.snapshot import snapshot_flow  # the flows load only here

            result = of_run(snapshot_flow(run_id=run_id))
        for platform in result.platforms:
            say(
                f"snapshot: {platform.platform}: {platform.statuses} "
                f"in {platform.requests} requests"
            )

        report_refresh = refresh_configured(settings, watchlist, full=True)
    say(f"refresh: marts rebuilt in {report_refresh.seconds:.2f} s")
    layout = WarehouseLayout.at(warehouse)
    catalog = layout.catalog
    columns, rows_ = run_query(catalog, SUMMARY_SQL)
    say("")
    say(render(columns, rows_, "table"))
    say("")
    written = write_report(catalog, layout.report, now=clock())
    say(f"report: {written.path} (open it in a browser; `followerledger report` rewrites it)")
    say("")
    say(_next_steps(warehouse))
    return DemoResult(warehouse, catalog, written.path, time.perf_counter() - started)


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them.

    Settings match names in either case, so a variable spelled in another case is hidden
    for the block too.
    """
    wanted = {name.lower() for name in values}
    shadowed = {name: value for name, value in os.environ.items() if name.lower() in wanted}
    for name in shadowed:
        del os.environ[name]
    os.environ.update(values)
    try:
        yield
    finally:
        for name in values:
            os.environ.pop(name, None)
        os.environ.update(shadowed)


def _next_steps(warehouse: Path) -> str:
    # Both settings: `query` reads only the lake FOLLOWERLEDGER_LAKE names, and a `.env` may
    # name another.
    layout = WarehouseLayout.at(warehouse)
    command = (
        f"FOLLOWERLEDGER_WAREHOUSE={shlex.quote(str(warehouse))} "
        f"FOLLOWERLEDGER_LAKE={shlex.quote(layout.lake_uri)} .venv/bin/followerledger"
    )
    catalog = layout.catalog
    return "\n".join(
        [
            "Explore further (commands use the warehouse and lake their settings name):",
            f'  {command} query "select * from accounts"',
            f'  {command} query "select * from daily_followers limit 5" --format csv',
            f"  .venv/bin/duckdb -readonly {shlex.quote(str(catalog))}",
            "  .venv/bin/followerledger watchlist list",
        ]
    )
