"""The real `followerledger snapshot` in a subprocess against the emulator: which Prefect server
it reports to (and that it never imports Prefect's server for one it does not start), what it
prints off a terminal and with `--verbose`, and its live display in a pseudo-terminal, stopped
by Ctrl-C."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from followerledger.emulator.faults import Fault
from followerledger.layout import WarehouseLayout
from followerledger.prefect_server import PORT_FILE
from tests.conftest import Workspace

pytestmark = pytest.mark.prefect

#: The module Prefect's server is (FastAPI, its ORM models): ~2.8 s of CPU to import.
SERVER_MODULE = "prefect.server.api.server"
ANSI = re.compile(r"\x1b[\[\]()#;?]*[0-9;?]*[A-Za-z@-~]?")
#: How long one command may take on a loaded machine (a bound, not an assertion).
COMMAND_TIMEOUT = 300


def harness_url() -> str:
    """The API URL of the test session's Prefect server (`prefect_server` fixture)."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    assert url
    return url


def environment(**changes: str | None) -> dict[str, str]:
    """This test's environment (the workspace's settings) with `changes` (None: unset)."""
    base = {**os.environ, "COLUMNS": "160"}
    base.pop("PREFECT_API_URL", None)
    for name, value in changes.items():
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def snapshot(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`followerledger snapshot ARGS` with Python's import timing on stderr (`-X importtime`:
    every module the CLI process imports, by name)."""
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "followerledger.cli", "snapshot", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )


def imported(stderr: str) -> set[str]:
    """The modules an `-X importtime` run imported."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:")
    }


def printed(stderr: str) -> list[str]:
    """stderr without the import timing."""
    return [line for line in stderr.splitlines() if not line.startswith("import time:")]


def snapshot_runs() -> int:
    """Flow runs of the snapshot flow on the test session's server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["snapshot"])))
    return len(runs)


def test_with_a_configured_server_it_never_imports_prefects_server_and_keeps_task_lines_off(
    workspace: Workspace, prefect_server: None
) -> None:
    env = environment(PREFECT_API_URL=harness_url())
    before = snapshot_runs()

    quiet = snapshot(env)

    assert quiet.returncode == 0, quiet.stderr[-3000:]
    modules = imported(quiet.stderr)
    assert "followerledger.flows.snapshot" in modules  # the timing saw the flow's imports
    assert "prefect.client.orchestration" in modules
    assert SERVER_MODULE not in modules
    assert not any(module.startswith("prefect.server.api") for module in modules)
    assert "landed" in quiet.stdout
    assert not any("Finished in state" in line for line in printed(quiet.stderr))
    assert not ANSI.search(quiet.stdout + "\n".join(printed(quiet.stderr)))  # not a terminal
    assert snapshot_runs() == before + 1  # reported to that server

    loud = snapshot(env, "--verbose")

    assert loud.returncode == 0, loud.stderr[-3000:]
    task_lines = [line for line in printed(loud.stderr) if "Finished in state Completed" in line]
    assert any("snapshot_shard" in line for line in task_lines)
    assert "snapshot: the flow run" in printed(loud.stderr)  # its steps as lines
    assert not ANSI.search("\n".join(printed(loud.stderr)))
    # The same summary lines (the requests may differ: the second run reads by id).
    assert [line.split(" in ")[0] for line in loud.stdout.splitlines()[:-1]] == [
        line.split(" in ")[0] for line in quiet.stdout.splitlines()[:-1]
    ]


def test_a_server_set_in_the_active_prefect_profile_is_used_and_not_replaced(
    workspace: Workspace, prefect_server: None, tmp_path: Path
) -> None:
    home = tmp_path / "prefect-home"
    home.mkdir()
    (home / "profiles.toml").write_text(
        f'active = "team"\n\n[profiles.team]\nPREFECT_API_URL = "{harness_url()}"\n'
    )
    env = environment(PREFECT_HOME=str(home), PREFECT_PROFILES_PATH=None, PREFECT_PROFILE=None)
    before = snapshot_runs()

    result = snapshot(env)

    assert result.returncode == 0, result.stderr[-3000:]
    assert SERVER_MODULE not in imported(result.stderr)
    assert snapshot_runs() == before + 1  # on the profile's server, not a temporary one
    assert not (home / "prefect.db").exists()  # no temporary server's database either


def test_without_one_it_reuses_the_running_local_server_of_make_deploy(
    workspace: Workspace, prefect_server: None, tmp_path: Path
) -> None:
    from prefect.server.api.server import SubprocessASGIServer

    # The session's server stands in for `make deploy`'s: a live pid, a healthy port, noted
    # where `ensure_server` notes them.
    harness = SubprocessASGIServer()
    assert harness.server_process is not None
    home = WarehouseLayout.at(workspace.warehouse).prefect_home
    home.mkdir(parents=True)
    (home / "server.pid").write_text(str(harness.server_process.pid))
    (home / PORT_FILE).write_text(str(harness.port))
    env = environment(PREFECT_HOME=str(tmp_path / "no-profile"))
    before = snapshot_runs()

    result = snapshot(env)

    assert result.returncode == 0, result.stderr[-3000:]
    assert SERVER_MODULE not in imported(result.stderr)
    assert snapshot_runs() == before + 1  # its flow run is on that server


def test_with_no_server_it_starts_a_temporary_one_without_importing_prefects_server(
    workspace: Workspace, tmp_path: Path
) -> None:
    env = environment(PREFECT_HOME=str(tmp_path / "prefect"))

    result = snapshot(env)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "landed" in result.stdout
    modules = imported(result.stderr)
    assert "followerledger.flows.snapshot" in modules
    assert SERVER_MODULE not in modules  # it ran in the server's own process
    assert (tmp_path / "prefect" / "prefect.db").exists()  # a persisted database


class Screen:
    """Everything a pseudo-terminal's program writes, read as it comes (a program whose
    terminal is not read blocks once the terminal's buffer is full)."""

    def __init__(self, master: int) -> None:
        self.master = master
        self._seen = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the program's side closed
                return
            if not chunk:
                return
            with self._lock:
                self._seen += chunk

    @property
    def raw(self) -> str:
        """What was written so far, control sequences and all."""
        with self._lock:
            return self._seen.decode("utf-8", "replace")

    def wait_for(self, pattern: re.Pattern[str], timeout: float) -> str:
        """What a person reads once `pattern` appears in it (or `timeout` passed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not pattern.search(ANSI.sub("", self.raw)):
            time.sleep(0.2)
        return ANSI.sub("", self.raw)

    def closed(self, timeout: float) -> str:
        """Everything, once the program's side of the terminal closed."""
        self._reader.join(timeout)
        return self.raw


def test_on_a_terminal_it_shows_the_rows_and_the_waits_end_and_ctrl_c_stops_it_cleanly(
    workspace: Workspace, prefect_server: None
) -> None:
    # X answers 429 with a reset a minute away: the run waits for it, and says until when.
    workspace.emulator.state.faults.add(Fault("x", "rate_limit", seconds=60, times=None))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    env = environment(PREFECT_API_URL=harness_url(), TERM="xterm-256color")
    env.pop("COLUMNS")
    command = subprocess.Popen(
        [sys.executable, "-m", "followerledger.cli", "snapshot"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    screen = Screen(master)
    try:
        # Bluesky's batch done, X waiting: both rows drawn, X's with its wait's end.
        wait = (
            r"x +\S+ 0/[?1] +0 accounts, 0 errors, "
            r"waiting for its rate limit until \d\d:\d\d:\d\d UTC"
        )
        done = r"bluesky +\S+ 1/[?1] +2 accounts, 0 errors"
        both = re.compile(rf"(?s)({wait}.*{done})|({done}.*{wait})")
        shown = screen.wait_for(both, COMMAND_TIMEOUT)
        assert both.search(shown), shown[-3000:]
        assert "Finished in state" not in shown
        before = len(screen.raw)

        os.kill(command.pid, signal.SIGINT)
        code = command.wait(timeout=60)
        tail = screen.closed(timeout=10)
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
        os.close(master)

    assert code == 128 + signal.SIGINT
    assert tail.rfind("\x1b[?25h") > tail.rfind("\x1b[?25l")  # the cursor shown again
    assert "stopped by SIGINT" in ANSI.sub("", tail[before:])
    assert "Traceback" not in ANSI.sub("", tail)
