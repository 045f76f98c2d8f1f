"""Kill harness: run snapshot, refresh, compaction and import in a subprocess, SIGKILL it at a
chosen point, and check what it left.

A point is a command and a way to pick the moment:
- `pause:<point>[@n]`: the library's test-only pause point (`followerledger.pause`), e.g.
  `delta-commit@2`, the second lake commit about to be made (`lake-rename@2` for the
  second mart file, finished and synced but not yet renamed into place);
- `temporary`: the moment a temporary file appears (the warehouse is polled);
- `random:<seconds>`: after that long (`--long` draws three per command within its
  unkilled run time).

After the kill: every visible Parquet file (lake and marts) reads fully, and the warehouse
opens and answers. Then the temporary files left are aged past `TEMPORARY_AGE`, the killed
command runs again with the same run id (in this process), and a refresh follows: no
temporary file is left, no row is duplicated, and the lake holds exactly what one complete
run adds.

The commands run here as `python -m tests.kills <command> <warehouse>`: the library path
each CLI command takes, without Prefect, so that a point costs about a second
(`cli_snapshot_point` drives the real `followerledger snapshot`).
`python -m tests.kills --long` tries every point of `LONG_POINTS` and prints a table
(`make kills`).
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import duckdb
import pyarrow.parquet as pq

from followerledger import pause
from followerledger.catalog import publish
from followerledger.compaction import compact
from followerledger.delta_lake import DATASETS, DeltaLake
from followerledger.emulator import EmulatorServer, emulator_environment
from followerledger.emulator.world import account_id
from followerledger.history_import import import_history
from followerledger.lake import Lake
from followerledger.landing import Landing, write_run_record
from followerledger.layout import WarehouseLayout
from followerledger.leftovers import TEMPORARY_AGE, is_temporary, sweep_warehouse
from followerledger.models import DAILY, INCREMENTAL, LAKE_DATASETS, SNAPSHOT
from followerledger.observation import Observation
from followerledger.refresh import refresh
from followerledger.run_log import record_counts
from followerledger.sources.base import Usage
from followerledger.watchlist import Watchlist, load_watchlist
from tests import tiny

ROOT: Final = Path(__file__).resolve().parent.parent
COMMANDS: Final = ("snapshot", "refresh", "compact", "import")
#: The run id every killed snapshot uses (and its re-run replaces).
RUN_ID: Final = "kill-snapshot"
WATCHLIST: Final = """\
brands:
  Dell:
    x: [DellOutlet, DellChannel, IdeaStormAction, DellYourBlog]
    bluesky: [dell.com]
  HP:
    x: [HP]
    bluesky: [hp.com]
"""
#: How long a killed command may take to reach its point (it starts a Python first).
REACH_TIMEOUT: Final = 120.0


def today() -> datetime:
    """Midnight UTC today: every run is placed relative to it, so compaction finds closed days."""
    now = datetime.now(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def accounts(watchlist: Watchlist) -> list[tuple[str, str]]:
    """(platform, handle) of every watched account."""
    return [(account.platform, account.handle) for account in watchlist.accounts]


def land_snapshot(
    warehouse: Path, lake: DeltaLake, watchlist: Watchlist, run_id: str, when: datetime
) -> None:
    """What the snapshot flow does to the store: sweep, land each platform's rows and its run
    record, publish the catalog (its rows are made up; the CLI point fetches real ones)."""
    sweep_warehouse(WarehouseLayout.at(warehouse, lake.root))
    for platform in watchlist.platforms:
        landing = Landing(lake, platform, run_id, when)
        rows = [
            Observation(
                run_id=run_id,
                observed_at=when,
                platform=platform,
                handle=handle,
                status="ok",
                source="api",
                account_id=account_id(platform, handle),
                followers=1000 + index + int(when.timestamp()) // 3600 % 97,
                requested_handle=handle,
            )
            for index, (kind, handle) in enumerate(accounts(watchlist))
            if kind == platform
        ]
        landing.add(rows)
        landing.commit()
        record = record_counts(
            run_id, platform, when, when, landing.statuses, landing.sources, Usage(1)
        )
        write_run_record(lake, record)
    publish(WarehouseLayout.at(warehouse, lake.root), watchlist)


def history_csv(path: Path) -> int:
    """An import file of seven platform-days (seven partitions); returns its row count."""
    first = today() - timedelta(days=10)
    lines = ["observed_at,platform,handle,followers"]
    for day in range(4):
        moment = (first + timedelta(days=day, hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(f"{moment},x,DellOutlet,{1500 + day}")
        lines.append(f"{moment},x,HP,{9000 + day}")
        if day < 3:
            lines.append(f"{moment},bluesky,dell.com,{300 + day}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines) - 1


def run_command(command: str, warehouse: Path) -> None:
    """One command as its CLI runs it, against the warehouse under `warehouse`."""
    lake = DeltaLake(warehouse / "lake")
    watchlist = load_watchlist(warehouse.parent / "watchlist.yaml")
    if command == "snapshot":
        # The moment the template chose: a kill and its re-run land the same run, even on
        # either side of midnight.
        when = datetime.fromisoformat((warehouse.parent / "snapshot-at").read_text())
        land_snapshot(warehouse, lake, watchlist, RUN_ID, when)
    elif command == "refresh":
        refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
    elif command == "compact":
        compact(WarehouseLayout.at(warehouse, lake.root), watchlist, grace=timedelta(hours=24))
    elif command == "import":
        import_history(
            warehouse.parent / "history.csv",
            WarehouseLayout.at(warehouse, lake.root),
            watchlist=watchlist,
        )
        publish(WarehouseLayout.at(warehouse, lake.root), watchlist)
    else:
        raise ValueError(f"unknown command {command!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class Template:
    """A seeded project folder each point starts from a copy of."""

    root: Path
    rows: int
    imported: int

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"


def make_template(root: Path) -> Template:
    """Two closed days of two runs each (work for compaction), refreshed marts, then one
    more run the marts do not reflect yet (work for refresh), and an import file."""
    root.mkdir(parents=True)
    (root / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    imported = history_csv(root / "history.csv")
    (root / "snapshot-at").write_text((today() + timedelta(hours=1)).isoformat())
    warehouse = root / "warehouse"
    lake = DeltaLake(warehouse / "lake")
    watchlist = load_watchlist(root / "watchlist.yaml")
    for days, hour in ((3, 6), (3, 18), (2, 6), (2, 18)):
        when = today() - timedelta(days=days) + timedelta(hours=hour)
        land_snapshot(warehouse, lake, watchlist, f"{when:%Y%m%dT%H%M%SZ}-seed", when)
    refresh(WarehouseLayout.at(warehouse, lake.root), watchlist)
    when = today() - timedelta(days=1, hours=-6)
    land_snapshot(warehouse, lake, watchlist, f"{when:%Y%m%dT%H%M%SZ}-seed", when)
    return Template(root, observation_rows(warehouse), imported)


def observation_rows(warehouse: Path) -> int:
    """How many observations the published catalog shows."""
    with duckdb.connect(str(WarehouseLayout.at(warehouse).catalog), read_only=True) as connection:
        row = connection.execute("select count(*) from observations").fetchone()
    assert row is not None
    return int(row[0])


@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    """Where to kill: a command and `pause:<point>[@n]`, `temporary` or `random:<seconds>`."""

    command: str
    at: str

    def __str__(self) -> str:
        return f"{self.command} {self.at}"


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """What one kill left, and what the next runs made of it."""

    point: Point
    killed: bool
    visible_files: int
    unreadable: tuple[str, ...]
    warehouse_answers: bool
    temporary_left: int
    temporary_after: int
    duplicate_rows: int
    rows_expected: int
    rows_after: int
    #: Lake data files no table version names, once the next runs and a vacuum with no
    #: retention (what compaction does past the grace period) are done.
    orphans_after: int

    @property
    def consistent(self) -> bool:
        """Every check held."""
        return (
            not self.unreadable
            and self.warehouse_answers
            and self.temporary_after == 0
            and self.duplicate_rows == 0
            and self.rows_after == self.rows_expected
            and self.orphans_after == 0
        )

    def row(self) -> str:
        """One line of the table `--long` prints."""
        left = "killed" if self.killed else "finished first"
        return (
            f"{self.point!s:<34} {left:<15} {self.visible_files:>7} "
            f"{len(self.unreadable):>10} {'yes' if self.warehouse_answers else 'NO':>8} "
            f"{self.temporary_left:>9} {self.temporary_after:>6} {self.duplicate_rows:>5} "
            f"{self.orphans_after:>7} {'ok' if self.consistent else 'BROKEN':>7}"
        )


HEADER: Final = (
    f"{'point':<34} {'kill':<15} {'visible':>7} {'unreadable':>10} {'answers':>8} "
    f"{'temp left':>9} {'after':>6} {'dupes':>5} {'orphans':>7} {'result':>7}"
)


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """The environment for a killed command (no pause point unless `extra` names one)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FOLLOWERLEDGER_TEST")}
    environment["PYTHONPATH"] = str(ROOT)
    return {**environment, **extra}


def temporaries(warehouse: Path) -> list[Path]:
    """Every temporary file under the warehouse."""
    return [
        Path(directory) / name
        for directory, _, names in os.walk(warehouse)
        for name in names
        if is_temporary(name)
    ]


def kill_at(
    argv: Sequence[str], at: str, warehouse: Path, environment: dict[str, str] | None = None
) -> tuple[bool, list[int]]:
    """Start `argv`, SIGKILL it at `at`: whether it was killed (not finished first), and the
    pids of the child processes it had then."""
    signal_file = warehouse.parent / "paused"
    extra = dict(environment or {})
    if at.startswith("pause:"):
        extra[pause.PAUSE_AT] = at.removeprefix("pause:")
        extra[pause.PAUSE_SIGNAL] = str(signal_file)
    process = subprocess.Popen(
        argv,
        env=child_environment(extra),
        cwd=warehouse.parent,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    reached = _waiter(at, warehouse, signal_file)
    deadline = time.monotonic() + REACH_TIMEOUT
    while process.poll() is None and not reached():
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise AssertionError(f"{' '.join(argv)} did not reach {at} in {REACH_TIMEOUT} s")
        time.sleep(0.001 if at == "temporary" else 0.01)
    killed = process.poll() is None
    children = children_of(process.pid) if killed else []
    if killed:
        process.send_signal(signal.SIGKILL)
    process.wait()
    return killed, children


def children_of(pid: int) -> list[int]:
    """The pids of a process's children (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    """Whether a process still runs (a zombie, dead but not yet reaped, does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


def wait_dead(pids: Sequence[int], timeout: float = 30.0) -> list[int]:
    """The pids still alive after waiting up to `timeout` for them to end."""
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if alive(pid)]


def _waiter(at: str, warehouse: Path, signal_file: Path) -> Callable[[], bool]:
    if at.startswith("pause:"):
        return signal_file.exists
    if at == "temporary":
        return lambda: bool(temporaries(warehouse))
    if at.startswith("random:"):
        deadline = time.monotonic() + float(at.removeprefix("random:"))
        return lambda: time.monotonic() >= deadline
    raise ValueError(f"unknown kill point {at!r}")


def check_store(warehouse: Path) -> tuple[int, tuple[str, ...], bool]:
    """(visible Parquet files, the ones that do not read fully, whether the warehouse answers)."""
    lake = DeltaLake(warehouse / "lake")
    marts = Lake(warehouse / "marts")
    visible = [f.path for dataset in LAKE_DATASETS for f in tiny.lake_files(lake, dataset)]
    for model in INCREMENTAL + DAILY + SNAPSHOT:
        visible += [marts.path(f.key) for f in marts.list(model.name)]
    unreadable = []
    for path in visible:
        try:
            table = pq.read_table(path, partitioning=None)
            if table.num_rows != pq.read_metadata(path).num_rows:
                unreadable.append(path)
        except Exception:
            unreadable.append(path)
    return len(visible), tuple(unreadable), _answers(warehouse)


def _answers(warehouse: Path) -> bool:
    try:
        with duckdb.connect(
            str(WarehouseLayout.at(warehouse).catalog), read_only=True
        ) as connection:
            for model in ("observations", *(m.name for m in DAILY + SNAPSHOT)):
                connection.sql(f'select count(*) from "{model}"').fetchall()
    except duckdb.Error:
        return False
    return True


def duplicates(warehouse: Path) -> int:
    """Rows of observations or any mart that another row repeats exactly."""
    found = 0
    with duckdb.connect(str(WarehouseLayout.at(warehouse).catalog), read_only=True) as connection:
        for model in ("observations", *(m.name for m in DAILY + SNAPSHOT)):
            row = connection.execute(
                f'select count(*) - (select count(*) from (select distinct * from "{model}")) '
                f'from "{model}"'
            ).fetchone()
            assert row is not None
            found += int(row[0])
    return found


def age_temporaries(warehouse: Path) -> int:
    """Make every temporary file look older than the safe age; return how many there are."""
    old = time.time() - TEMPORARY_AGE.total_seconds() - 60
    found = temporaries(warehouse)
    for path in found:
        os.utime(path, (old, old))
    return len(found)


def after_kill(
    point: Point,
    killed: bool,
    template: Template,
    warehouse: Path,
    rerun: Callable[[], None],
) -> Outcome:
    """Check the store a kill left, then run again (`rerun`) and refresh, and check again."""
    visible, unreadable, answers = check_store(warehouse)
    left = age_temporaries(warehouse)
    rerun()
    watchlist = load_watchlist(warehouse.parent / "watchlist.yaml")
    refresh(WarehouseLayout.at(warehouse, warehouse / "lake"), watchlist)
    added = {"snapshot": len(watchlist.accounts), "import": template.imported}
    lake = DeltaLake(warehouse / "lake")
    for dataset in DATASETS:
        lake.vacuum(dataset, retention_hours=0)
    return Outcome(
        point,
        killed,
        visible,
        unreadable,
        answers,
        left,
        len(temporaries(warehouse)),
        duplicates(warehouse),
        template.rows + added.get(point.command, 0),
        observation_rows(warehouse),
        orphans(lake),
    )


def orphans(lake: DeltaLake) -> int:
    """Data files under the lake's tables that their latest versions do not name."""
    count = 0
    for dataset in DATASETS:
        named = {Path(f.path) for f in lake.snapshot(dataset).files}
        on_disk = set(Path(lake.table_uri(dataset)).glob("platform=*/date=*/*.parquet"))
        count += len(on_disk - named)
    return count


def try_point(point: Point, template: Template, work: Path) -> Outcome:
    """Kill one library command at `point` in a fresh copy of the template; see the module doc."""
    root = work / f"{point.command}-{point.at.replace(':', '-').replace('@', '-')}"
    shutil.copytree(template.root, root)
    warehouse = root / "warehouse"
    argv = [sys.executable, "-m", "tests.kills", point.command, str(warehouse)]
    killed, _ = kill_at(argv, point.at, warehouse)
    return after_kill(
        point, killed, template, warehouse, lambda: run_command(point.command, warehouse)
    )


CLI_RUN_ID: Final = "kill-cli-snapshot"


def cli_environment(root: Path, emulator: Mapping[str, str]) -> dict[str, str]:
    """`followerledger snapshot` against the emulator, in Prefect's ephemeral mode (no
    PREFECT_API_URL: it starts its own temporary server)."""
    return {
        **emulator,
        "FOLLOWERLEDGER_WAREHOUSE": str(root / "warehouse"),
        "FOLLOWERLEDGER_WATCHLIST": str(root / "watchlist.yaml"),
        "PREFECT_HOME": str(root / "prefect"),
        "PREFECT_API_URL": "",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }


def cli_snapshot_point(
    template: Template,
    work: Path,
    emulator: EmulatorServer,
    rerun: Callable[[Path], None],
    at: str = "pause:catalog-rename",
) -> tuple[Outcome, list[int]]:
    """Kill the real `followerledger snapshot` at `at`; `rerun(root)` runs it again with
    `CLI_RUN_ID`. Also returns the pids of its child processes (its temporary Prefect
    server) still alive 30 s after the kill."""
    root = work / f"cli-snapshot-{at.replace(':', '-').replace('@', '-')}"
    shutil.copytree(template.root, root)
    warehouse = root / "warehouse"
    argv = [str(Path(sys.executable).parent / "followerledger"), "snapshot", "--run-id", CLI_RUN_ID]
    # It knows the ids the made-up runs used (the emulator's own), as after a restart.
    emulator.state.preload_watchlist(load_watchlist(root / "watchlist.yaml"))
    environment = cli_environment(root, emulator_environment(emulator.url))
    killed, children = kill_at(argv, at, warehouse, environment)
    survivors = wait_dead(children)
    for pid in survivors:  # counted; not left running
        os.kill(pid, signal.SIGKILL)
    outcome = after_kill(
        Point("snapshot", f"CLI {at}"), killed, template, warehouse, lambda: rerun(root)
    )
    return outcome, survivors


#: The short version, in `make test` (tests/test_kills.py): one targeted point per command.
SHORT_POINTS: Final = (
    Point("snapshot", "pause:delta-commit@3"),
    Point("refresh", "pause:state-rename"),
    Point("compact", "pause:compact-optimize@2"),
    Point("import", "pause:import-write@3"),
)


def long_points(durations: Mapping[str, float], seed: int = 12) -> list[Point]:
    """At least 30 points over all four commands: each pause point, the first temporary
    file, and three random moments within each command's unkilled run time (`durations`)."""
    pauses = {
        "snapshot": (
            "delta-commit@1",
            "delta-commit@2",
            "delta-commit@3",
            "delta-commit@4",
            "catalog-rename",
        ),
        "refresh": (
            "lake-write",
            "lake-rename@1",
            "lake-rename@6",
            "state-rename",
            "catalog-rename",
        ),
        "compact": (
            "compact-optimize@1",
            "compact-optimize@2",
            "compact-optimize@4",
            "state-rename",
            "catalog-rename",
        ),
        "import": (
            "import-write",
            "import-write@4",
            "import-write@7",
            "catalog-rename",
        ),
    }
    chance = random.Random(seed)
    points = []
    for command in COMMANDS:
        points += [Point(command, f"pause:{name}") for name in pauses[command]]
        points.append(Point(command, "temporary"))
        points += [
            Point(command, f"random:{chance.uniform(0, durations[command]):.2f}") for _ in range(3)
        ]
    return points


def unkilled_seconds(command: str, template: Template, work: Path) -> float:
    """How long the command takes, start to exit, when nothing kills it."""
    root = work / f"{command}-unkilled"
    shutil.copytree(template.root, root)
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "tests.kills", command, str(root / "warehouse")],
        env=child_environment({}),
        cwd=root,
        check=True,
    )
    return time.monotonic() - started


def main(argv: Sequence[str]) -> int:
    """`<command> <warehouse>`: run a command (the killed child); `--long`: the long run."""
    if argv and argv[0] in COMMANDS:
        run_command(argv[0], Path(argv[1]))
        return 0
    if argv[:1] != ["--long"]:
        print("usage: python -m tests.kills (--long | <command> <warehouse>)", file=sys.stderr)
        return 2
    import tempfile

    broken_servers: list[Outcome] = []

    from followerledger.emulator import EmulatorState

    with (
        tempfile.TemporaryDirectory(prefix="followerledger-kills-") as scratch,
        EmulatorServer(EmulatorState()) as emulator,
    ):
        work = Path(scratch)
        template = make_template(work / "template")
        # The faster of two runs: the first pays for cold caches.
        durations = {
            command: min(unkilled_seconds(command, template, work / f"{run}") for run in "ab")
            for command in COMMANDS
        }
        print(
            "unkilled run times: "
            + ", ".join(f"{command} {seconds:.2f} s" for command, seconds in durations.items())
        )
        outcomes = []
        print(HEADER)
        for point in long_points(durations):
            outcome = try_point(point, template, work)
            outcomes.append(outcome)
            print(outcome.row(), flush=True)
        environment = emulator_environment(emulator.url)

        def rerun(root: Path) -> None:
            argv = [str(Path(sys.executable).parent / "followerledger"), "snapshot"]
            subprocess.run(
                [*argv, "--run-id", CLI_RUN_ID],
                env=child_environment(cli_environment(root, environment)),
                cwd=root,
                check=True,
                capture_output=True,
            )

        for at in ("pause:delta-commit@2", "pause:catalog-rename"):
            outcome, survivors = cli_snapshot_point(template, work, emulator, rerun, at)
            outcomes.append(outcome)
            print(f"{outcome.row()}  server left running: {len(survivors)}", flush=True)
            if survivors:
                broken_servers.append(outcome)
        broken = [o for o in outcomes if not o.consistent] + broken_servers
        killed = sum(o.killed for o in outcomes)
        print(
            f"{len(outcomes)} points, {killed} killed, {len(outcomes) - killed} finished first, "
            f"{sum(o.temporary_left for o in outcomes)} temporary files left and swept, "
            f"{len(broken)} inconsistent"
        )
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
