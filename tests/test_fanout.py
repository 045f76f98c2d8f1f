"""What the fan-out parent (`fanout.ShardRuns`) does with each state a shard run reaches, on
the session's real Prefect server, without workers: the shard runs are real flow runs whose
states the test sets, as a worker or the crash automation would (`Crashed` when a process
died, `Running` for a process that then went silent), and the parent's clock is moved past
the silence window. `tests/test_fanout_workers.py` runs it all for real, with workers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from prefect import flow
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.objects import FlowRun
from prefect.states import Completed, Crashed, Failed, Pending, Running, Scheduled

from followerledger import fanout
from followerledger.clock import utc_now

pytestmark = pytest.mark.prefect


@flow(name="shard-stand-in")
def stand_in(**parameters: Any) -> None:
    """Never run: its flow runs only carry the states the tests give them."""


@pytest.fixture
def client(prefect_server: None) -> Iterator[SyncPrefectClient]:
    with get_client(sync_client=True) as opened:
        yield opened


class Created:
    """A `Submit` that creates the shard runs on the server, nothing picking them up."""

    def __init__(self, client: SyncPrefectClient) -> None:
        self.client = client
        self.requests: list[fanout.ShardRequest] = []

    def __call__(self, name: str, requests: Sequence[fanout.ShardRequest]) -> list[FlowRun]:
        self.requests.extend(requests)
        return [
            self.client.create_flow_run(
                stand_in, parameters=request.parameters, tags=list(request.tags)
            )
            for request in requests
        ]


def shard_runs(
    client: SyncPrefectClient, shards: int, clock: Any = utc_now
) -> tuple[fanout.ShardRuns, Created]:
    created = Created(client)
    plan = fanout.plan_fanout(shards, ["x"])
    runs = fanout.ShardRuns(plan, client, created, stale_after=timedelta(seconds=60), clock=clock)
    runs.submit(*range(shards))
    return runs, created


class MovedClock:
    """The parent's clock: the real time until `move`, then that many minutes ahead."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or utc_now()

    def move(self, minutes: int) -> None:
        self.at = utc_now() + timedelta(minutes=minutes)


def set_state(client: SyncPrefectClient, runs: fanout.ShardRuns, shard: int, state: Any) -> None:
    client.set_flow_run_state(runs.current[shard].flow_run_id, state, force=True)


def test_each_shard_run_gets_the_run_s_parameters_and_the_crash_tags(
    client: SyncPrefectClient,
) -> None:
    runs, created = shard_runs(client, 3)
    plan = runs.plan
    assert [request.parameters for request in created.requests] == [
        {
            "shards": 3,
            "shard": shard,
            "run_id": plan.run_id,
            "started_at": plan.started_at.isoformat(),
            "platforms": ["x"],
        }
        for shard in range(3)
    ]
    assert {request.tags for request in created.requests} == {
        ("followerledger", "followerledger-shard")
    }
    keys = [request.idempotency_key for request in created.requests]
    assert keys == [f"{plan.run_id}-s{shard}-a1" for shard in range(3)]
    # Not started: nothing to do but wait for a worker.
    assert runs.step() == {0, 1, 2}
    assert runs.abandoned == []


def test_a_crashed_shard_is_submitted_again_up_to_its_bound_then_the_run_fails(
    client: SyncPrefectClient,
) -> None:
    runs, created = shard_runs(client, 2)
    set_state(client, runs, 0, Completed())
    for attempt in (1, 2):
        set_state(client, runs, 1, Crashed(message="worker lost"))
        assert runs.step() == {1}
        assert runs.current[1].number == attempt + 1
    assert created.requests[-1].idempotency_key == f"{runs.plan.run_id}-s1-a3"
    set_state(client, runs, 1, Crashed(message="worker lost\nagain"))
    with pytest.raises(fanout.ShardFailed) as raised:
        runs.step()
    assert str(raised.value) == (
        f"run {runs.plan.run_id}: shard 1 of 2 gave up after 3 runs: "
        "its run crashed (worker lost again)"
    )
    assert [shard for shard, _, _ in runs.abandoned] == [1, 1, 1]


def test_a_running_shard_without_heartbeats_is_set_crashed_and_submitted_again(
    client: SyncPrefectClient,
) -> None:
    clock = MovedClock()
    runs, _ = shard_runs(client, 2, clock)
    set_state(client, runs, 0, Running())
    set_state(client, runs, 1, Running())
    # Within the window: still running, whatever its heartbeats.
    assert runs.step() == {0, 1}
    assert runs.abandoned == []
    silent = runs.current[1].flow_run_id
    set_state(client, runs, 0, Completed())
    clock.move(minutes=5)
    assert runs.step() == {1}
    assert runs.abandoned == [(1, silent, "its run sent no heartbeat for 60 s")]
    state = client.read_flow_run(silent).state
    assert state is not None
    assert state.is_crashed()
    assert state.message == (
        "The parent run resubmitted this shard: its run sent no heartbeat for 60 s"
    )
    assert runs.current[1].flow_run_id != silent


def test_a_failed_shard_fails_the_run_with_one_line_naming_it(
    client: SyncPrefectClient,
) -> None:
    runs, _ = shard_runs(client, 4)
    set_state(client, runs, 2, Failed(message="x: counted nothing"))
    with pytest.raises(fanout.ShardFailed) as raised:
        runs.step()
    assert str(raised.value) == (
        f"run {runs.plan.run_id}: shard 2 of 4 ended Failed: x: counted nothing"
    )


def test_a_pending_shard_no_worker_labelled_waits_five_windows_before_it_is_silent(
    client: SyncPrefectClient,
) -> None:
    clock = MovedClock()
    runs, _ = shard_runs(client, 1, clock)
    set_state(client, runs, 0, Pending())
    claimed = runs.current[0].flow_run_id
    # A busy worker labels the run it claimed late: four windows are not yet silence.
    clock.move(minutes=4)
    assert runs.step() == {0}
    assert runs.abandoned == []
    clock.move(minutes=6)
    assert runs.step() == {0}
    assert runs.abandoned == [(0, claimed, "its run stayed Pending for 300 s")]


def test_a_shard_no_worker_takes_fails_the_run_with_one_line_saying_what_to_start(
    client: SyncPrefectClient,
) -> None:
    clock = MovedClock()
    runs, _ = shard_runs(client, 2, clock)
    for shard in (0, 1):
        set_state(client, runs, shard, Scheduled())
    set_state(client, runs, 1, Completed())
    clock.move(minutes=4)
    assert runs.step() == {0}  # waiting for a worker: not yet a failure
    clock.move(minutes=6)
    with pytest.raises(fanout.ShardFailed) as raised:
        runs.step()
    message = str(raised.value)
    assert message.startswith(f"run {runs.plan.run_id}: shard 0 of 2: no worker took its run")
    assert "prefect worker start --pool" in message
    assert "\n" not in message


def test_a_failed_run_cancels_its_shard_runs_still_going(client: SyncPrefectClient) -> None:
    runs, _ = shard_runs(client, 3)
    set_state(client, runs, 0, Running())
    set_state(client, runs, 1, Completed())
    set_state(client, runs, 2, Failed(message="x: counted nothing"))
    with pytest.raises(fanout.ShardFailed):
        runs.step()
    runs.cancel_rest()  # what `run` does on its way out
    states = {
        shard: client.read_flow_run(attempt.flow_run_id).state
        for shard, attempt in runs.current.items()
    }
    assert states[0] is not None
    assert states[0].name == "Cancelling"
    assert states[1] is not None
    assert states[1].is_completed()  # a final state is kept
    assert states[2] is not None
    assert states[2].is_failed()


def test_a_deployment_not_on_the_server_is_one_line_saying_to_deploy(prefect_server: None) -> None:
    with pytest.raises(fanout.ShardFailed) as raised:
        fanout.submit_to_pool("snapshot/no-such-deployment", [])
    assert str(raised.value) == (
        "the deployment snapshot/no-such-deployment is not on the Prefect server: deploy it "
        "first (make deploy, or followerledger deploy)"
    )
