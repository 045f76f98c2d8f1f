"""The production path: `followerledger deploy` starts a real Prefect server and deploys
prefect.yaml; a process worker runs the hourly deployment against the emulator; `serve` runs
the same deployments from one process and stops on Ctrl-C.

The tests share one server (starting one costs ~10 s) and run in file order: the serve test
comes last because serving takes over the deployed deployments (same names).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import httpx
import pytest
import yaml
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.client.schemas.objects import FlowRun
from prefect.client.schemas.responses import DeploymentResponse
from prefect.settings import PREFECT_API_URL, temporary_settings
from pytest_httpserver import HTTPServer

from followerledger.emulator import EmulatorServer, emulator_environment
from followerledger.emulator.faults import Fault
from tests.conftest import SMALL_WATCHLIST
from tests.test_stopping import Running

pytestmark = pytest.mark.prefect

REPO = Path(__file__).parent.parent
BIN = Path(sys.executable).parent

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclasses.dataclass
class Deployed:
    """A deployed project: its environment, server and what `deploy` printed."""

    environment: dict[str, str]
    port: int
    api_url: str
    warehouse: Path
    output: str
    emulator: EmulatorServer

    def run(self, *command: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        """A command from the project folder, with the project's environment."""
        return subprocess.run(
            [str(BIN / command[0]), *command[1:]],
            cwd=REPO,
            env={**self.environment, "PREFECT_API_URL": self.api_url},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def deployments(self) -> dict[str, DeploymentResponse]:
        async def read() -> dict[str, DeploymentResponse]:
            async with get_client() as client:
                return {d.name: d for d in await client.read_deployments()}

        return self._ask(read)

    def flow_run(self, name: str) -> FlowRun:
        async def read() -> FlowRun:
            async with get_client() as client:
                runs = await client.read_flow_runs()
                return next(run for run in runs if run.name == name)

        return self._ask(read)

    def flow_runs(self, flow_name: str) -> list[FlowRun]:
        async def read() -> list[FlowRun]:
            async with get_client() as client:
                return await client.read_flow_runs(
                    flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name]))
                )

        return self._ask(read)

    def automations(self) -> list[str]:
        async def read() -> list[str]:
            async with get_client() as client:
                return sorted(a.name for a in await client.read_automations())

        return self._ask(read)

    def start(self, deployment: str) -> str:
        """Start a run of `flow/deployment` as `prefect deployment run` does (the first test
        runs that command; here the API, sparing a process that imports Prefect); its name."""

        async def create() -> str:
            async with get_client() as client:
                found = await client.read_deployment_by_name(deployment)
                run = await client.create_flow_run_from_deployment(found.id)
                return run.name

        return self._ask(create)

    def _ask(self, question: Callable[[], Coroutine[Any, Any, T]]) -> T:
        with temporary_settings({PREFECT_API_URL: self.api_url}):
            return asyncio.run(question())


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    root = tmp_path_factory.mktemp("ops")
    (root / "watchlist.yaml").write_text(SMALL_WATCHLIST, encoding="utf-8")
    emulator = EmulatorServer().start()
    environment = {
        **os.environ,
        **emulator_environment(emulator.url),
        "FOLLOWERLEDGER_WAREHOUSE": str(root / "warehouse"),
        "FOLLOWERLEDGER_WATCHLIST": str(root / "watchlist.yaml"),
        "PREFECT_HOME": str(root / "prefect-client"),
        # Runs are started by the tests, not by the clock.
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        # The shortest window deploy accepts for runs beating every 30 s (prefect.yaml).
        "FOLLOWERLEDGER_CRASH_AFTER_SECONDS": "40",
        "COLUMNS": "200",
    }
    environment.pop("PREFECT_API_URL", None)
    port = free_port()
    pid_file = root / "warehouse" / "_prefect" / "server.pid"
    try:
        deploy = subprocess.run(
            [str(BIN / "followerledger"), "deploy", "--port", str(port)],
            cwd=REPO,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        yield Deployed(
            environment,
            port,
            f"http://127.0.0.1:{port}/api",
            root / "warehouse",
            deploy.stdout,
            emulator,
        )
    finally:
        emulator.stop()
        if pid_file.exists():  # the server `deploy` started for this test
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGTERM)
            for _ in range(300):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)


def test_deploy_then_a_process_worker_runs_the_hourly_snapshot(deployed: Deployed) -> None:
    assert f"started a local Prefect server: {deployed.api_url}" in deployed.output
    assert (
        f"PREFECT_API_URL={deployed.api_url} DO_NOT_TRACK=1 "
        ".venv/bin/prefect worker start --pool followerledger"
    ) in deployed.output
    assert f"Open the UI: http://127.0.0.1:{deployed.port}" in deployed.output
    assert (deployed.warehouse / "_prefect" / "prefect.db").exists()

    deployments = deployed.deployments()
    assert sorted(deployments) == [
        "crashed-run-alert",
        "daily-compaction",
        "history-import",
        "hourly-fanout",
        "hourly-snapshot",
        "snapshot-shard",
        "weekly-full-refresh",
    ]
    hourly = deployments["hourly-snapshot"]
    assert hourly.work_pool_name == "followerledger"
    assert [(s.schedule.cron, s.schedule.timezone) for s in hourly.schedules] == [  # type: ignore[union-attr]
        ("0 * * * *", "UTC")
    ]
    assert hourly.global_concurrency_limit is not None
    assert hourly.global_concurrency_limit.limit == 1
    assert hourly.concurrency_options is not None
    assert hourly.concurrency_options.collision_strategy.value == "CANCEL_NEW"
    assert deployments["weekly-full-refresh"].parameters == {"full": True}
    # Worker runs beat every 30 s, for the crash-detection automation.
    assert hourly.job_variables == {"env": {"PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}}
    assert hourly.pull_steps == [
        {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO.resolve())}}
    ]

    started = deployed.run("prefect", "deployment", "run", "snapshot-and-refresh/hourly-snapshot")
    assert started.returncode == 0, started.stdout + started.stderr
    worker = deployed.run("prefect", "worker", "start", "--pool", "followerledger", "--run-once")
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert "Finished in state Completed()" in worker.stdout + worker.stderr

    with duckdb.connect(str(deployed.warehouse / "followerledger.duckdb"), read_only=True) as db:
        assert db.sql("select count(*) from observations").fetchall() == [(7,)]
        # The refresh after the snapshot brought the marts up to date.
        assert db.sql("select count(*) from daily_followers").fetchall() == [(5,)]
    listed = deployed.run("prefect", "artifact", "ls")
    assert listed.returncode == 0, listed.stderr
    assert "snapshot-summary" in listed.stdout
    assert "snapshot-platforms" in listed.stdout
    summary = deployed.run("prefect", "artifact", "inspect", "snapshot-summary")
    assert "# Snapshot run `" in summary.stdout


def test_cancelling_a_deployed_run_stops_it_mid_wait(deployed: Deployed) -> None:
    """A worker cancels a run with SIGTERM: a snapshot waiting out a 300 s rate-limit reset
    ends Cancelled and its process exits at once, not after the worker's 30 s grace."""
    emulator = deployed.environment["FOLLOWERLEDGER_X_API_URL"]
    fault = {"platform": "x", "kind": "rate_limit", "seconds": 300}
    httpx.post(f"{emulator}/_emulator/faults", json=fault).raise_for_status()
    worker = Running(
        str(BIN / "prefect"), "worker", "start", "--pool", "followerledger",
        env={**deployed.environment, "PREFECT_API_URL": deployed.api_url}, cwd=REPO,
    )  # fmt: skip
    try:
        name = deployed.start("snapshot-and-refresh/hourly-snapshot")
        worker.wait_for("rate-limited (429), waiting", timeout=180)
        run = deployed.flow_run(name)
        sent = time.monotonic()
        cancelled = deployed.run("prefect", "flow-run", "cancel", str(run.id))
        assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
        # The worker's grace before it kills a run that ignores SIGTERM is 30 s: a run that
        # ends before it stopped on its own (on a loaded machine the worker's report of it
        # took over 20 s in the full suite, though the run crashed 2 s after the cancel).
        worker.wait_for(f"Cancelled flow run '{name}'", timeout=28)
        print(f"deployed run cancelled {time.monotonic() - sent:.2f} s after the cancel command")
        state = deployed.flow_run(name).state
        assert state is not None
        assert state.is_cancelled(), worker.output
        assert "Traceback" not in worker.output, worker.output
    finally:
        httpx.delete(f"{emulator}/_emulator/faults").raise_for_status()
        worker.stop(signal.SIGINT)


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (from /proc), children first."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: list[int] = []
    frontier = [pid]
    while frontier:
        children = [child for child, parent in parents.items() if parent in frontier]
        found.extend(children)
        frontier = children
    return found


def test_a_killed_run_ends_crashed_alerts_once_and_the_next_run_completes(
    deployed: Deployed, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/alerts", method="POST").respond_with_data("ok")
    worker_environment = {
        **deployed.environment,
        "PREFECT_API_URL": deployed.api_url,
        "FOLLOWERLEDGER_ALERT_URLS": f"json://127.0.0.1:{httpserver.port}/alerts",
    }

    def worker() -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(BIN / "prefect"), "worker", "start", "--pool", "followerledger", "--run-once"],
            cwd=REPO,
            env=worker_environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    # Every platform answer takes minutes: the run is busy when its machine "dies".
    deployed.emulator.state.faults.add(Fault("*", "latency", times=None, seconds=600))
    name = deployed.start("snapshot-and-refresh/hourly-snapshot")
    first = worker()
    deadline = time.monotonic() + 120
    while not deployed.flow_run(name).state.is_running():  # type: ignore[union-attr]
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, "the worker did not start the run"
        time.sleep(0.5)
    while not any(run.state_name == "Running" for run in deployed.flow_runs("snapshot")):
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, "the snapshot subflow did not start"
        time.sleep(0.5)
    time.sleep(3)  # the first heartbeats are sent as the runs start running
    below = descendants(first.pid)
    first.kill()  # the worker first, so that nothing is left to report the run's end
    for pid in below:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    first.communicate()
    deployed.emulator.state.faults.clear()
    assert deployed.flow_run(name).state.is_running()  # type: ignore[union-attr]
    subflows = [run for run in deployed.flow_runs("snapshot") if run.state_name == "Running"]
    assert len(subflows) == 1

    killed = deployed.flow_run(name)
    # The run and its subflow (the snapshot it was in) both end Crashed.
    deadline = time.monotonic() + 180
    while not all(run.state_name == "Crashed" for run in [killed, *subflows]):
        assert time.monotonic() < deadline, [
            (run.name, run.state_name) for run in [killed, *subflows]
        ]
        time.sleep(1)
        killed = deployed.flow_run(name)
        subflows = [deployed.flow_run(run.name) for run in subflows]
    for run in [killed, *subflows]:
        assert "No heartbeat for 40 s" in (run.state.message or ""), run.name  # type: ignore[union-attr]
    # The alert automation started the crashed-run alert; the next hourly run is not blocked
    # by the dead run's concurrency slot.
    while not deployed.flow_runs("alert-crashed-run"):
        assert time.monotonic() < deadline, "no crashed-run alert was started"
        time.sleep(1)
    following = deployed.start("snapshot-and-refresh/hourly-snapshot")
    # A `--run-once` worker takes the runs due when it polls; an alert run the automation
    # starts a moment later waits (Late) for the next worker, so start workers until all ran.
    outputs: list[str] = []
    deadline = time.monotonic() + 300
    while True:
        again = worker()
        output, _ = again.communicate(timeout=300)
        outputs.append(output)
        assert again.returncode == 0, output
        alerts = [run.state_name for run in deployed.flow_runs("alert-crashed-run")]
        ended = deployed.flow_run(following).state
        if ended is not None and ended.is_final() and all(s == "Completed" for s in alerts):
            break
        assert time.monotonic() < deadline, (alerts, outputs)
    output = "".join(outputs)
    assert deployed.flow_run(following).state.is_completed(), output  # type: ignore[union-attr]

    failed_run_alerts = [
        request.get_json()
        for request, _ in httpserver.log
        if request.get_json()["title"].endswith(f" run {name} crashed")
    ]
    assert len(failed_run_alerts) == 1, httpserver.log
    assert "ended Crashed" in failed_run_alerts[0]["message"]
    assert "No heartbeat for 40 s" in failed_run_alerts[0]["message"]

    assert deployed.automations() == [
        "followerledger: alert on crashed runs",
        "followerledger: crash unresponsive runs",
    ]


def test_serve_runs_every_deployment_from_one_process_until_ctrl_c(deployed: Deployed) -> None:
    serving = subprocess.Popen(
        [str(BIN / "followerledger"), "serve", "--port", str(deployed.port)],
        cwd=REPO,
        env=deployed.environment,  # no PREFECT_API_URL: it finds the same local server
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        served = "followerledger.flows.compact.compact_flow"
        while deployed.deployments()["daily-compaction"].entrypoint != served:
            assert serving.poll() is None, serving.communicate()[0]
            assert time.monotonic() < deadline, "serve did not take over the deployments"
            time.sleep(0.5)
        name = deployed.start("compact/daily-compaction")
        while not deployed.flow_run(name).state.is_final():  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the served process did not run the flow"
            time.sleep(0.5)
        assert deployed.flow_run(name).state.is_completed()  # type: ignore[union-attr]
    finally:
        serving.send_signal(signal.SIGINT)
        output, _ = serving.communicate(timeout=180)
    assert serving.returncode == 0, output
    # A worker picking up a run after serve stopped runs it in the project folder.
    for deployment in deployed.deployments().values():
        assert deployment.pull_steps == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO.resolve())}}
        ], deployment.name
    name = deployed.start("compact/daily-compaction")
    worker = deployed.run("prefect", "worker", "start", "--pool", "followerledger", "--run-once")
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert deployed.flow_run(name).state.is_completed(), worker.stdout + worker.stderr  # type: ignore[union-attr]
    in_file = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))["deployments"]
    assert f"serving {len(in_file)} deployments" in output
    assert "serve stopped" in output
    assert deployed.deployments()["hourly-snapshot"].paused

    # serve updated deploy's automations in place.
    assert deployed.automations() == [
        "followerledger: alert on crashed runs",
        "followerledger: crash unresponsive runs",
    ]


def test_deploy_names_an_unreachable_prefect_api(tmp_path: Path) -> None:
    (tmp_path / "watchlist.yaml").write_text(SMALL_WATCHLIST, encoding="utf-8")
    api = f"http://127.0.0.1:{free_port()}/api"
    result = subprocess.run(
        [str(BIN / "followerledger"), "deploy"],
        cwd=REPO,
        env={
            **os.environ,
            "PREFECT_API_URL": api,
            "PREFECT_HOME": str(tmp_path / "home"),
            "FOLLOWERLEDGER_WAREHOUSE": str(tmp_path / "warehouse"),
            "FOLLOWERLEDGER_WATCHLIST": str(tmp_path / "watchlist.yaml"),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"followerledger: error: PREFECT_API_URL={api} does not answer: start that server, "
        "or unset PREFECT_API_URL to use a local one\n"
    )
    assert not (tmp_path / "warehouse" / "_prefect").exists()
