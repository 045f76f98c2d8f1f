"""The hourly snapshot fanned out over a work pool, for real (issue 15, item 2): a Prefect
server of the test's own (`followerledger deploy`: prefect.yaml's deployments, its own
PREFECT_HOME, 127.0.0.1), the lake on an S3 bucket of a moto server, the emulator, two
`prefect worker start` processes on this machine, and the parent flow (`flows/fanout.py`) in
a process of its own, submitting eight `snapshot-shard` runs of a few hundred X and Bluesky
accounts. Every account gets exactly one row for the run and `runs` one row per platform;
then, in a second run, one worker and its shard runs are SIGKILLed mid-shard (paused after a
lake commit: `pause.py`), the parent sees them silent, sets them Crashed and submits them
again, the other worker runs them, and every account still has exactly one row."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest
from deltalake import DeltaTable

from followerledger import pause
from followerledger.delta_lake import OBSERVATIONS, delta_lake_of
from followerledger.emulator import EmulatorServer, emulator_environment
from followerledger.layout import WarehouseLayout
from followerledger.query import open_warehouse
from tests.closing import ClosedOnExit
from tests.moto_server import KEY_ID, REGION, SECRET, create_bucket, endpoint, free_port, moto_s3
from tests.test_deployment import descendants

pytestmark = [pytest.mark.prefect, pytest.mark.timeout(900)]

REPO: Final = Path(__file__).parent.parent
BIN: Final = Path(sys.executable).parent
SHARDS: Final = 8
#: Accounts per platform (X and Bluesky): a few hundred in all, several batches per shard.
ACCOUNTS: Final = 160
#: The shortest crash window `deploy` accepts for runs beating every 30 s (the minimum
#: Prefect allows); the parent uses the same window to call a run silent.
CRASH_AFTER: Final = 40


def accounts() -> list[tuple[str, str]]:
    """(platform, handle) of every watched account."""
    return [("x", f"fanx{n:04d}") for n in range(ACCOUNTS)] + [
        ("bluesky", f"fanb{n:04d}.bsky.social") for n in range(ACCOUNTS)
    ]


def watchlist_text(watched: list[tuple[str, str]]) -> str:
    """A watchlist of one brand per ten accounts."""
    lines = ["brands:"]
    for start in range(0, len(watched), 10):
        lines.append(f"  Brand{start // 10:03d}:")
        group: dict[str, list[str]] = {}
        for platform, handle in watched[start : start + 10]:
            group.setdefault(platform, []).append(handle)
        for platform, handles in group.items():
            lines.append(f"    {platform}: [{', '.join(handles)}]")
    return "\n".join(lines) + "\n"


class Worker(ClosedOnExit):
    """`prefect worker start` on the pool, in a session of its own; output to a file."""

    def __init__(self, name: str, environment: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self._out = log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [
                *(str(BIN / "prefect"), "worker", "start", "--pool", "followerledger"),
                *("--name", name, "--limit", str(SHARDS // 2)),
            ],
            cwd=REPO,
            env=environment,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, text: str, timeout: float = 120) -> None:
        """Until the worker printed `text`."""
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.process.poll() is None, self.output
            assert time.monotonic() < deadline, self.output
            time.sleep(0.2)

    def kill(self) -> list[int]:
        """SIGKILL the worker first (nothing left to report its runs' end), then the process
        group of each of its flow runs' processes; the pids killed."""
        below = descendants(self.process.pid)
        self.process.kill()
        self.process.wait()
        for pid in below:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return below

    def close(self) -> None:
        if self.process.poll() is None:
            below = descendants(self.process.pid)
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            for pid in below:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._out.close()


class Pool(ClosedOnExit):
    """The deployed project: server, S3 lake, emulator, the environment workers get."""

    def __init__(self, root: Path, environment: dict[str, str], api_url: str) -> None:
        self.root = root
        self.environment = environment
        self.api_url = api_url

    def worker(self, name: str, **extra: str) -> Worker:
        return Worker(name, {**self.environment, **extra}, self.root / f"{name}.log")

    def close(self) -> None:
        pid_file = self.root / "warehouse" / "_prefect" / "server.pid"
        if pid_file.exists():  # the server `deploy` started for this test
            pid = int(pid_file.read_text())
            os.kill(pid, signal.SIGTERM)
            for _ in range(300):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)

    def rows(self, run_id: str) -> list[tuple[int, str, str]]:
        """(shard, platform, handle) of each row of the run, read from the S3 table as an
        outside reader does."""
        layout = WarehouseLayout.from_environment()
        lake = delta_lake_of(layout)
        table = DeltaTable(
            f"{layout.lake_uri}/{OBSERVATIONS.name}", storage_options=lake.storage_options
        ).to_pyarrow_table(columns=["run_id", "shard", "platform", "handle"])
        return [
            (int(row["shard"]), str(row["platform"]), str(row["handle"]).lower())
            for row in table.to_pylist()
            if row["run_id"] == run_id
        ]

    def observations(self, run_id: str) -> Counter[tuple[str, str]]:
        """(platform, handle) -> rows of the run."""
        return Counter((platform, handle) for _, platform, handle in self.rows(run_id))


@pytest.fixture
def pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pool]:
    watched = accounts()
    (tmp_path / "watchlist.yaml").write_text(watchlist_text(watched), encoding="utf-8")
    with moto_s3() as store, EmulatorServer() as emulator:
        url = endpoint(store)
        bucket = create_bucket(url)
        settings = {
            **emulator_environment(emulator.url),
            "FOLLOWERLEDGER_WAREHOUSE": str(tmp_path / "warehouse"),
            "FOLLOWERLEDGER_WATCHLIST": str(tmp_path / "watchlist.yaml"),
            "FOLLOWERLEDGER_LAKE": f"s3://{bucket}/lake",
            "FOLLOWERLEDGER_HTTP_TIMEOUT": "5",
            "FOLLOWERLEDGER_CRASH_AFTER_SECONDS": str(CRASH_AFTER),
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_REGION": REGION,
            "AWS_ALLOW_HTTP": "true",
        }
        for name in [name for name in os.environ if name.startswith("AWS_")]:
            monkeypatch.delenv(name)
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        environment = {
            **os.environ,
            "PREFECT_HOME": str(tmp_path / "prefect-client"),
            # Runs are started by the parent, not by the clock.
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
            # Workers poll the pool every second (default 10 s).
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            # Workers beat every 5 s (a run a dead worker had claimed is known in CRASH_AFTER).
            "PREFECT_WORKER_HEARTBEAT_SECONDS": "5",
            "COLUMNS": "200",
        }
        environment.pop("PREFECT_API_URL", None)
        port = free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        with Pool(tmp_path, {**environment, "PREFECT_API_URL": api_url}, api_url) as deployed:
            done = subprocess.run(
                [str(BIN / "followerledger"), "deploy", "--port", str(port)],
                cwd=REPO,
                env=environment,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            yield deployed


class Parent(ClosedOnExit):
    """The fan-out parent flow (`fanout_flow`) in a process of its own; output to a file."""

    def __init__(self, pool: Pool, name: str) -> None:
        self.log = pool.root / f"{name}.log"
        self._out = self.log.open("w", encoding="utf-8")
        code = f"from followerledger.flows.fanout import fanout_flow; fanout_flow(shards={SHARDS})"
        self.process = subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=REPO,
            env=pool.environment,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    @property
    def run_id(self) -> str | None:
        found = re.search(rf"run (\S+): {SHARDS} shards submitted", self.output)
        return found.group(1) if found else None

    def resubmitted(self) -> dict[int, tuple[str, str]]:
        """Shard -> (why, the new flow run's id), for each shard submitted again."""
        found = re.findall(
            r"shard (\d+): (.+?); submitted again \(run \d+ of at most \d+: ([0-9a-f-]+)\)",
            self.output,
        )
        return {int(shard): (why, flow_run) for shard, why, flow_run in found}

    def wait(self, timeout: float = 600) -> str:
        """Its output once it ended (failing unless it ended well)."""
        code = self.process.wait(timeout=timeout)
        assert code == 0, self.output
        return self.output

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._out.close()


def runs_rows(run_id: str) -> list[tuple[str, int]]:
    """(platform, shards) of the run's rows in the `runs` mart."""
    layout = WarehouseLayout.from_environment()
    with open_warehouse(layout.catalog, lake=layout.lake_uri) as db:
        found = db.execute(
            "select platform, shards from runs where run_id = ? order by platform", [run_id]
        ).fetchall()
    return [(str(platform), int(shards)) for platform, shards in found]


def test_eight_shards_on_two_workers_and_a_worker_killed_mid_shard(pool: Pool) -> None:
    began = time.monotonic()
    watched = {(platform, handle.lower()) for platform, handle in accounts()}
    with pool.worker("w1") as first, pool.worker("w2") as second:
        first.wait_for("started")
        second.wait_for("started")
        print(f"deployed, workers started: {time.monotonic() - began:.1f} s")
        with Parent(pool, "parent-1") as parent:
            output = parent.wait()
        assert parent.resubmitted() == {}, output
        run_id = parent.run_id
        assert run_id is not None, output
        counts = pool.observations(run_id)
        assert set(counts) == watched
        assert set(counts.values()) == {1}
        shard_rows = Counter(shard for shard, _, _ in pool.rows(run_id))
        assert sorted(shard_rows) == list(range(SHARDS))
        # The parent's tail and refresh: one `runs` row per platform, summing its shards.
        assert runs_rows(run_id) == [("bluesky", SHARDS), ("x", SHARDS)]
        print(f"first run done: {time.monotonic() - began:.1f} s")
        first.close()

        # The second run: the shard runs of w1-dies stop after their first lake commit (a
        # platform of the shard landed, the rest not) and are killed there, with w1-dies.
        paused = pool.root / "paused"
        with (
            pool.worker(
                "w1-dies", **{pause.PAUSE_AT: "delta-commit@2", pause.PAUSE_SIGNAL: str(paused)}
            ) as dying,
            Parent(pool, "parent-2") as parent,
        ):
            dying.wait_for("started")
            deadline = time.monotonic() + 300
            while not paused.exists():
                assert time.monotonic() < deadline, dying.output + parent.output
                assert parent.process.poll() is None, parent.output
                time.sleep(0.2)
            killed = dying.kill()
            assert killed, dying.output
            # A worker may take a shard run before the parent's line naming the run reached
            # its log (a busy machine): wait for the line.
            while parent.run_id is None:
                assert time.monotonic() < deadline, parent.output
                assert parent.process.poll() is None, parent.output
                time.sleep(0.2)
            run_id = parent.run_id
            assert run_id is not None, parent.output
            halfway = Counter(shard for shard, _, _ in pool.rows(run_id))
            killed_at = time.monotonic()
            output = parent.wait()
        print(f"second run done {time.monotonic() - killed_at:.1f} s after the kill")
        resubmitted = parent.resubmitted()
        assert resubmitted, output
        reasons = ("no heartbeat", "crashed", "stopped beating")
        assert all(any(r in why for r in reasons) for why, _ in resubmitted.values()), resubmitted
        counts = pool.observations(run_id)
        assert set(counts) == watched
        assert set(counts.values()) == {1}
        assert runs_rows(run_id) == [("bluesky", SHARDS), ("x", SHARDS)]
        # A killed shard had landed part of its rows (a platform) before it died: the
        # resubmitted run replaced them, not added to them.
        final = Counter(shard for shard, _, _ in pool.rows(run_id))
        assert any(0 < halfway[shard] < final[shard] for shard in resubmitted), (
            halfway,
            final,
            resubmitted,
        )
        # w1-dies is dead: the other worker ran every resubmitted shard.
        for _, flow_run in resubmitted.values():
            assert f"submitting flow run '{flow_run}'" in second.output, second.output[-3000:]
            assert f"Aborted submission of flow run '{flow_run}'" not in second.output
    print(f"fan-out test: {time.monotonic() - began:.1f} s after the deploy")
