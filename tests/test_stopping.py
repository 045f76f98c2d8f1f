"""SIGTERM and SIGINT stop a run within seconds, whatever it waits for (issue 12, item 1).

Real signals to real `followerledger` processes: a snapshot waiting out a 300 s rate-limit
reset, a refresh and a compaction waiting for the warehouse lock held by this test. Each must
exit within 10 s, cleanly (one line, no traceback), leaving nothing of the run behind. The
command that follows, to show that the next run works, runs in this process (`run_next`): it is
about what the stopped one left, not about a process of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from deltalake import DeltaTable
from filelock import FileLock
from prefect import get_client
from prefect.client.schemas.sorting import FlowRunSort
from prefect.settings import PREFECT_API_URL
from prefect.utilities.asyncutils import run_coro_as_sync

from followerledger import pause, stopping
from followerledger.cli import main
from followerledger.delta_lake import OBSERVATIONS, delta_lake_of
from followerledger.emulator import Fault
from tests.conftest import Workspace

EXECUTABLE = str(Path(sys.executable).parent / "followerledger")
#: Generous bound for a stop (the issue asks for 10 s); a process still alive is killed.
STOP_WITHIN = 10.0


class Running:
    """A `followerledger` command in a process of its own, its output read as it comes."""

    def __init__(self, *command: str, env: dict[str, str], cwd: Path | None = None) -> None:
        """`command`: a followerledger command, or (an absolute path first) any program."""
        program = [] if Path(command[0]).is_absolute() else [EXECUTABLE]
        self.command = [*program, *command]
        self.process = subprocess.Popen(
            self.command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=cwd,
        )
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    @property
    def output(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        """Block until `text` appears in the output (fail if the process ends first)."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: text in "".join(self.lines) or self.process.poll() is not None, timeout
            )
        assert found, f"never printed {text!r}:\n{self.output}"
        assert text in self.output, f"never printed {text!r}:\n{self.output}"

    def stop(self, signum: int) -> int:
        """Send `signum`; the exit code, or fail (and kill) if it outlives STOP_WITHIN."""
        sent = time.monotonic()
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=STOP_WITHIN)
            # Reported, not asserted beyond STOP_WITHIN: the figure for the note.
            print(f"{self.command[1:3]} exited {time.monotonic() - sent:.2f} s after {signum}")
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            self._close()
            pytest.fail(f"still running {STOP_WITHIN:g} s after {signum}:\n{self.output}")
        self._close()
        return code

    def _close(self) -> None:
        """Join the reader and close the pipe, so that a failed test leaves no open file for
        the garbage collector to complain about in a later test."""
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def environment(workspace: Workspace, prefect_server: None) -> dict[str, str]:
    """The workspace's settings for a child process, on the session's Prefect server."""
    return {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "FOLLOWERLEDGER_MAX_RATE_LIMIT_WAIT": "3600",
        "DO_NOT_TRACK": "1",
    }


def run_next(*command: str, env: dict[str, str] | None = None) -> Result:
    """`followerledger COMMAND` in this process (its environment updated by `env`)."""
    return CliRunner().invoke(main, list(command), env=env)


def flow_run_state(run_id: str) -> str | None:
    """The Prefect state type of the snapshot flow run of a run id (None: no such run)."""

    async def read() -> str | None:
        async with get_client() as client:
            runs = await client.read_flow_runs(sort=FlowRunSort.EXPECTED_START_TIME_DESC, limit=50)
        for run in runs:
            if run.parameters.get("run_id") == run_id and run.state is not None:
                return run.state.type.value
        return None

    return run_coro_as_sync(read())


def files_of(root: Path, run_id: str) -> list[Path]:
    """Every file (visible or temporary) under `root` whose name holds the run id."""
    return [path for path in root.rglob("*") if run_id in path.name]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_snapshot_waiting_on_a_rate_limit_reset_stops_on_a_signal(
    workspace: Workspace, environment: dict[str, str], signum: signal.Signals
) -> None:
    workspace.emulator.state.faults.add(Fault("x", "rate_limit", seconds=300))
    run_id = f"20261201T080000Z-{signum.name.lower()[3:]}"
    run = Running("snapshot", "--run-id", run_id, env=environment)
    run.wait_for("rate-limited (429), waiting")

    code = run.stop(signum)

    assert code == 128 + signum, run.output
    assert f"followerledger: stopped by {signum.name}" in run.output
    assert "Traceback" not in run.output, run.output
    assert files_of(workspace.warehouse, run_id) == []
    assert flow_run_state(run_id) == "CRASHED"
    # The next run works.
    workspace.emulator.state.faults.clear()
    after = run_next("snapshot", env=environment)
    assert after.exit_code == 0, after.output
    assert "landed" in after.stdout


def test_a_workers_shard_run_waiting_on_a_rate_limit_stops_on_sigterm(
    workspace: Workspace, environment: dict[str, str]
) -> None:
    """A fanned-out run's shard (`snapshot_flow(shard=...)`, as a worker starts it) runs its
    shard in the flow's own thread: the signal there must end its fetches' waits too."""
    workspace.emulator.state.faults.add(Fault("x", "rate_limit", seconds=300))
    run_id = "20261201T080000Z-worker"
    flow = (
        "from followerledger.flows.snapshot import snapshot_flow; "
        f"snapshot_flow(shards=1, shard=0, run_id={run_id!r})"
    )
    run = Running(sys.executable, "-c", flow, env=environment)
    run.wait_for("rate-limited (429), waiting")

    code = run.stop(signal.SIGTERM)

    assert code != 0, run.output
    assert flow_run_state(run_id) == "CRASHED"
    uri = workspace.lake.table_uri(OBSERVATIONS)
    if DeltaTable.is_deltatable(uri):  # nothing of the stopped shard is visible
        landed = DeltaTable(uri).to_pyarrow_table(columns=["run_id"]).column("run_id")
        assert run_id not in landed.to_pylist()


@pytest.mark.parametrize("command", ["refresh", "compact", "migrate"])
def test_a_command_waiting_for_the_warehouse_lock_stops_on_sigterm(
    workspace: Workspace, command: str
) -> None:
    (workspace.warehouse / "_state").mkdir(parents=True)
    with FileLock(str(workspace.warehouse / "_state" / "refresh.lock")):
        run = Running(command, env=dict(os.environ))
        run.wait_for("another refresh, compaction or migration holds it", timeout=30)
        code = run.stop(signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, run.output
    assert run.output.strip().splitlines()[-1].startswith("followerledger: stopped by SIGTERM")
    assert "Traceback" not in run.output, run.output
    # The lock is free again, and the command works.
    again = run_next(command)
    assert again.exit_code == 0, again.output


def test_an_import_stopped_in_the_middle_of_its_write_lands_nothing(
    workspace: Workspace,
) -> None:
    history = workspace.root / "history.csv"
    history.write_text(
        "observed_at,platform,handle,followers\n2026-01-01,x,HP,5\n2026-01-02,x,HP,6\n"
    )
    paused = workspace.root / "paused"
    # Held after its first partition is streamed, not committed: inside delta-rs' write.
    environment = {
        **os.environ,
        pause.PAUSE_AT: "import-write",
        pause.PAUSE_SIGNAL: str(paused),
    }
    run = Running("import", str(history), env=environment)
    deadline = time.monotonic() + 60
    while not paused.exists():
        assert run.process.poll() is None, run.output
        assert time.monotonic() < deadline, "the import never reached its write"
        time.sleep(0.05)
    code = run.stop(signal.SIGTERM)
    assert code == 128 + signal.SIGTERM, run.output
    assert run.output.strip().splitlines()[-1].startswith("followerledger: stopped by SIGTERM")
    assert "Traceback" not in run.output, run.output
    lake = delta_lake_of(workspace.settings.layout)
    # The table was created before the write began; the write committed nothing.
    assert (lake.snapshot(OBSERVATIONS).version, lake.snapshot(OBSERVATIONS).rows) == (0, 0)
    again = run_next("import", str(history))
    assert again.exit_code == 0, again.output
    assert (lake.snapshot(OBSERVATIONS).version, lake.snapshot(OBSERVATIONS).rows) == (1, 2)


def test_sleep_raises_stopped_once_the_stop_event_is_set() -> None:
    timer = threading.Timer(0.1, stopping.STOP.set)
    timer.start()
    try:
        with pytest.raises(stopping.Stopped):
            stopping.sleep(30)
    finally:
        timer.cancel()
        stopping.STOP.clear()
