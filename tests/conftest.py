"""Shared fixtures: a loopback emulator, an isolated workspace, a Prefect test server.

What each costs decides how to share it (`make test` runs 3 pytest-xdist workers on 2 cores,
CPU-bound; every "session" below is one per worker):

- `prefect_server` (session): one Prefect test server (SQLite) per worker, ~10 CPU-s to start.
  Use it (`pytest.mark.usefixtures("prefect_server")`) for flows run in this process; never
  start another server in a test unless the test is about that server. Tests share it: count
  what your test made (its run id, its flow-run names), not what the server holds.
- `secret_blocks` (function): Prefect Secret blocks on that server, deleted afterwards.
- `emulator` (function): a fresh loopback emulator (its request counts and faults are the
  test's own); cheap to start (a thread).
- `workspace` (function): a temporary project folder whose settings point at the emulator.
- `fake_clock` (function): a clock that moves only when told to.
- S3: `tests/moto_server.py` (`moto_s3()`, `use_s3`, `create_bucket`): moto on 127.0.0.1.

Process costs to keep in mind: a child process that imports Prefect costs ~4 CPU-s
(`prefect version`: 3.96 CPU-s); run a command in this process (`CliRunner`, or the library
call) unless the test is about the process (signals, kills, a worker, `deploy`). A test that
injects a dead API waits out its timeouts: `workspace` sets `FOLLOWERLEDGER_HTTP_TIMEOUT=5`;
lower such waits through settings, never by patching the code under test. Hypothesis:
budgets are explicit (`max_examples` on the test or the profile below). `LONG_FIRST` lists
test files whose tests take tens of seconds: add yours.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import hypothesis
import pytest

from followerledger.delta_lake import DeltaLake, delta_lake_of
from followerledger.emulator import EmulatorServer, EmulatorState, emulator_environment
from followerledger.settings import Settings, load_settings

FIXTURES = Path(__file__).parent / "fixtures"

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

SMALL_WATCHLIST = """\
# a small watchlist for tests
brands:
  Dell:
    x: [DellOutlet, DellChannel, IdeaStormAction, DellYourBlog]
    bluesky: [dell.com]
  HP:
    x: [HP]
    bluesky: [hp.com]
landscapes:
  PC makers: [Dell, HP]
"""


def fixture_text(name: str) -> str:
    """A fixture file's text (copied from the platforms' official material)."""
    return (FIXTURES / name).read_text(encoding="utf-8")


def fixture_json(name: str) -> Any:
    """A fixture file's JSON."""
    return json.loads(fixture_text(name))


class FakeClock:
    """A clock that only moves when told to (or when `sleep` is called)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


@pytest.fixture(autouse=True)
def environment_kept() -> Iterator[None]:
    """Fail a test that leaves the process environment changed (`monkeypatch` undoes its own
    first): whatever runs after it in this worker, above all the processes later tests start,
    would inherit it. A command run in-process set Prefect's console level to WARNING once,
    and a worker started tests later never printed that it had cancelled a run."""
    before = dict(os.environ)
    yield
    changed = sorted(
        name
        for name in set(before) | set(os.environ)
        if before.get(name) != os.environ.get(name) and name != "PYTEST_CURRENT_TEST"
    )
    for name in changed:
        if name in before:
            os.environ[name] = before[name]
        else:
            del os.environ[name]
    if changed:
        pytest.fail(f"the test left the environment changed: {', '.join(changed)}")


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorState()) as server:
        yield server


@dataclasses.dataclass
class Workspace:
    """An isolated project folder: watchlist, warehouse, settings pointing at the emulator."""

    root: Path
    emulator: EmulatorServer

    @property
    def watchlist(self) -> Path:
        return self.root / "watchlist.yaml"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse"

    @property
    def settings(self) -> Settings:
        return load_settings()

    @property
    def lake(self) -> DeltaLake:
        return delta_lake_of(self.settings.layout)

    @property
    def catalog(self) -> Path:
        return self.settings.layout.catalog


@pytest.fixture
def workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer
) -> Workspace:
    monkeypatch.chdir(tmp_path)
    for name, value in emulator_environment(emulator.url).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(tmp_path / "watchlist.yaml"))
    monkeypatch.setenv("FOLLOWERLEDGER_HTTP_TIMEOUT", "5")
    (tmp_path / "watchlist.yaml").write_text(SMALL_WATCHLIST, encoding="utf-8")
    return Workspace(tmp_path, emulator)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """A temporary Prefect server (SQLite) for tests that run real flows."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def secret_blocks(prefect_server: None) -> Iterator[Callable[[str, str], None]]:
    """Save Prefect Secret blocks on the test server (`save(name, value)`); each is deleted
    afterwards, so that later tests on the shared server do not find it."""
    from prefect.blocks.system import Secret

    saved: list[str] = []

    def save(name: str, value: str) -> None:
        Secret(value=value).save(name, overwrite=True)
        saved.append(name)

    yield save
    for name in saved:
        Secret.delete(name)


#: Test files whose tests each take tens of seconds (a Prefect server of their own, a quick
#: benchmark, the demo): run first, so that no worker starts one near the end of the suite
#: while the others sit idle (`make test` runs on 3 workers, `--dist worksteal`).
LONG_FIRST: Final = (
    "test_fanout_workers.py",
    "test_bench.py",
    "test_deployment.py",
    "test_demo.py",
    "test_lake_s3_end_to_end.py",
    "test_readers.py",
    "test_kills.py",
    "test_stopping.py",
    "test_cli_progress.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Order the long test files first (see `LONG_FIRST`); the rest keep their order."""
    rank = {name: index for index, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


# A shared 2-core machine can make drawing examples slow; how slow says nothing about the
# code under test (tests never assert a wall-clock time). The budget is explicit (Hypothesis'
# default, 100 examples); a test that needs another says so with its own `max_examples`.
hypothesis.settings.register_profile(
    "shared-machine",
    max_examples=100,
    deadline=None,
    suppress_health_check=[hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.load_profile("shared-machine")
