"""A snapshot fanned out over a Prefect work pool: one flow run of the shard deployment per
shard, on whichever workers poll the pool, waited for by the parent, which resubmits a shard
whose run died.

A shard's run dies in two ways the parent sees: Prefect ends it `Crashed` (its worker saw
the process exit, or the crash automation of `crash_detection` saw its heartbeats stop), or
it stays `Running`/`Pending` while nobody reports anything: its machine is gone with its
worker. A run beats every `PREFECT_FLOWS_HEARTBEAT_FREQUENCY` seconds (30 at least:
`prefect.flow-run.heartbeat` events, sent by the flow engine from the moment it runs); the
parent reads those of the last `stale_after` seconds (the `FOLLOWERLEDGER_CRASH_AFTER_SECONDS`
the automation uses) and calls a `Running` run without one silent. A `Pending` run has no
heartbeats yet (its process is starting, which takes long on a busy machine), so it is silent
only once the worker that claimed it stopped beating as long (or, before the worker labelled
it, after `UNCLAIMED_PENDING` times as long). The parent sets a silent run
`Crashed` itself, so it does not depend on the automation being deployed, and submits the
shard again.

A shard's commit replaces `run_id, platform, shard`, so the resubmitted run and a late
finisher of the abandoned one cannot double a row: whichever commits last leaves the shard's
rows, one per account; two commits at the same moment conflict, and the loser (delta-rs'
`CommitFailedError`) is retried by its shard task (`tests/test_shard_race.py`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol
from uuid import UUID

from followerledger import stopping
from followerledger.clock import Clock, utc_now
from followerledger.crash_detection import TAG
from followerledger.run_plan import new_run_id

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.client.schemas.objects import FlowRun, State, Worker

__all__ = [
    "ATTEMPTS",
    "HEARTBEAT_EVENT",
    "SHARD_DEPLOYMENT",
    "SHARD_TAG",
    "UNCLAIMED_PENDING",
    "WORKER_MISSED_BEATS",
    "FanoutPlan",
    "ShardFailed",
    "ShardRequest",
    "ShardRuns",
    "plan_fanout",
    "submit_to_pool",
]

#: prefect.yaml's shard deployment: `<flow name>/<deployment name>`.
SHARD_DEPLOYMENT: Final = "snapshot/snapshot-shard"
#: Every shard run carries it beside `crash_detection.TAG` (so the automations watch it).
SHARD_TAG: Final = "followerledger-shard"
HEARTBEAT_EVENT: Final = "prefect.flow-run.heartbeat"
#: A shard is submitted at most this many times (the first run and two resubmissions).
ATTEMPTS: Final = 3
#: A worker that missed this many of its heartbeats is gone (Prefect's own rule for
#: marking a worker offline).
WORKER_MISSED_BEATS: Final = 3
#: A Pending run no worker has labelled yet is silent after this many `stale_after`s.
UNCLAIMED_PENDING: Final = 5
#: How often the parent reads its shards' states (one request for all, one for heartbeats).
POLL_SECONDS: Final = 2.0
#: At most this many events per page of the events API (Prefect's interactive page size).
_EVENT_PAGE: Final = 50


class ShardFailed(RuntimeError):
    """A shard did not complete: one line naming the run, the shard and why."""


@dataclasses.dataclass(frozen=True)
class FanoutPlan:
    """One fanned-out run: its id, its start (every shard lands under its `date`), how many
    shards, and the platforms (None: all)."""

    run_id: str
    started_at: datetime
    shards: int
    platforms: tuple[str, ...] | None = None

    def parameters(self, shard: int) -> dict[str, Any]:
        """The shard deployment's parameters for shard `shard`."""
        return {
            "shards": self.shards,
            "shard": shard,
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "platforms": list(self.platforms) if self.platforms is not None else None,
        }


def plan_fanout(
    shards: int,
    platforms: Iterable[str] | None = None,
    run_id: str | None = None,
    started_at: datetime | None = None,
) -> FanoutPlan:
    """A new run's plan (a new run id, started now, unless given)."""
    started = started_at or utc_now()
    return FanoutPlan(
        run_id=run_id or new_run_id(started),
        started_at=started,
        shards=shards,
        platforms=tuple(platforms) if platforms is not None else None,
    )


@dataclasses.dataclass(frozen=True)
class ShardRequest:
    """One flow run of the shard deployment to create."""

    parameters: dict[str, Any]
    tags: tuple[str, ...]
    #: A retry of the parent does not submit an attempt twice.
    idempotency_key: str


class Submit(Protocol):
    """How shard runs are created: `submit_to_pool`, or a test's stand-in."""

    def __call__(self, name: str, requests: Sequence[ShardRequest]) -> list[FlowRun]: ...


def submit_to_pool(name: str, requests: Sequence[ShardRequest]) -> list[FlowRun]:
    """A flow run of deployment `name` per request, created at once and returned without
    waiting (`arun_deployment`, `timeout=0`), all together on one client: one after the
    other, each costs three requests to the server (seconds on a busy one). Inside a flow,
    each is linked to it as a subflow; one event loop, so their links' keys never clash."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import arun_deployment
    from prefect.exceptions import ObjectNotFound

    async def submit_all() -> list[FlowRun]:
        async with get_client() as client:
            try:
                await client.read_deployment_by_name(name)
            except ObjectNotFound:
                raise ShardFailed(
                    f"the deployment {name} is not on the Prefect server: deploy it first "
                    "(make deploy, or followerledger deploy)"
                ) from None
            return list(
                await asyncio.gather(
                    *(
                        arun_deployment(
                            name,
                            client=client,
                            parameters=request.parameters,
                            tags=list(request.tags),
                            idempotency_key=request.idempotency_key,
                            timeout=0,
                        )
                        for request in requests
                    )
                )
            )

    return asyncio.run(submit_all())


@dataclasses.dataclass
class _Attempt:
    shard: int
    number: int
    flow_run_id: UUID


class ShardRuns:
    """The shard runs of one fanned-out run, submitted and watched with one client."""

    def __init__(
        self,
        plan: FanoutPlan,
        client: SyncPrefectClient,
        submit: Submit,
        *,
        stale_after: timedelta,
        deployment: str = SHARD_DEPLOYMENT,
        tags: Sequence[str] = (),
        attempts: int = ATTEMPTS,
        clock: Clock = utc_now,
        say: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.plan = plan
        self.client = client
        self._submit = submit
        self.stale_after = stale_after
        self.deployment = deployment
        self.tags = sorted({TAG, SHARD_TAG, *tags})
        self.attempts = attempts
        self.clock = clock
        self.say = say
        self.current: dict[int, _Attempt] = {}
        #: Flow runs given up on (crashed or stale), for the log and the tests.
        self.abandoned: list[tuple[int, UUID, str]] = []

    def submit(self, *shards: int) -> list[UUID]:
        """Create the next run of each of `shards`; their flow run ids."""
        numbers = {
            shard: self.current[shard].number + 1 if shard in self.current else 1
            for shard in shards
        }
        runs = self._submit(
            self.deployment,
            [
                ShardRequest(
                    self.plan.parameters(shard),
                    tuple(self.tags),
                    f"{self.plan.run_id}-s{shard}-a{number}",
                )
                for shard, number in numbers.items()
            ],
        )
        for (shard, number), run in zip(numbers.items(), runs, strict=True):
            self.current[shard] = _Attempt(shard, number, run.id)
        return [run.id for run in runs]

    def run(self, poll_seconds: float = POLL_SECONDS) -> None:
        """Submit every shard and wait until each has completed; resubmit a shard whose run
        crashed or went silent, up to `attempts` runs of it. Raises `ShardFailed` (the first
        shard that failed, was cancelled or used its attempts up) or `stopping.Stopped`;
        either way the shard runs still going are cancelled first (`cancel_rest`)."""
        self.submit(*range(self.plan.shards))
        self.say(
            f"run {self.plan.run_id}: {self.plan.shards} shards submitted to {self.deployment}"
        )
        try:
            while True:
                pending = self.step()
                if not pending:
                    return
                stopping.sleep(poll_seconds)
        except BaseException:
            self.cancel_rest()
            raise

    def cancel_rest(self) -> None:
        """Cancel every shard run not yet final: the run has failed or was stopped, so its
        shards' rows would get no tail; their workers stop them (a shard's rows replace
        themselves, so one that landed still leaves each account once)."""
        from prefect.states import Cancelling

        ids = [attempt.flow_run_id for attempt in self.current.values()]
        for run in self._read_runs(ids).values():
            if run.state is not None and not run.state.is_final():
                self.client.set_flow_run_state(run.id, Cancelling(), force=True)

    def step(self) -> set[int]:
        """Read every current attempt's state once and act on it; the shards not done."""
        runs = self._read_runs([attempt.flow_run_id for attempt in self.current.values()])
        silent = self._silent(runs)
        pending: set[int] = set()
        for shard, attempt in sorted(self.current.items()):
            run = runs.get(attempt.flow_run_id)
            state = run.state if run is not None else None
            if state is None:
                pending.add(shard)
                continue
            if state.is_completed():
                continue
            if state.is_crashed():
                self._again(attempt, f"its run crashed ({_reason(state.message)})")
                pending.add(shard)
            elif state.is_failed() or state.is_cancelled():
                raise ShardFailed(
                    f"run {self.plan.run_id}: shard {shard} of {self.plan.shards} "
                    f"ended {state.name}: {_reason(state.message)}"
                )
            elif state.is_scheduled() and self._unclaimed(state):
                pool = run.work_pool_name if run is not None else None
                raise ShardFailed(
                    f"run {self.plan.run_id}: shard {shard} of {self.plan.shards}: no worker "
                    f"took its run in {UNCLAIMED_PENDING * self.stale_after.total_seconds():.0f}"
                    f" s; start one: prefect worker start --pool {pool or 'followerledger'}"
                )
            elif attempt.flow_run_id in silent:
                why = silent[attempt.flow_run_id]
                self._mark_crashed(attempt.flow_run_id, why)
                self._again(attempt, why)
                pending.add(shard)
            else:
                pending.add(shard)
        return pending

    def _unclaimed(self, state: State) -> bool:
        """Scheduled (or Late) for `UNCLAIMED_PENDING` times `stale_after`: no worker polls
        the pool's queue, and waiting longer would block every later run of the schedule."""
        since = self.clock() - UNCLAIMED_PENDING * self.stale_after
        return state.timestamp is not None and state.timestamp < since

    def _again(self, attempt: _Attempt, why: str) -> None:
        self.abandoned.append((attempt.shard, attempt.flow_run_id, why))
        if attempt.number >= self.attempts:
            raise ShardFailed(
                f"run {self.plan.run_id}: shard {attempt.shard} of {self.plan.shards} "
                f"gave up after {attempt.number} runs: {why}"
            )
        (new,) = self.submit(attempt.shard)
        self.say(
            f"shard {attempt.shard}: {why}; submitted again "
            f"(run {attempt.number + 1} of at most {self.attempts}: {new})"
        )

    def _read_runs(self, ids: list[UUID]) -> dict[UUID, FlowRun]:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        found = self.client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids)
        )
        return {run.id: run for run in found}

    def _silent(self, runs: Mapping[UUID, FlowRun]) -> dict[UUID, str]:
        """The runs nobody is running any more, each with why it is known:

        - `Running` for over `stale_after` without a heartbeat in the last `stale_after`: its
          process is gone or hung (a worker's death alone does not stop it: its runs'
          processes live on, and beat);
        - `Pending` (claimed by a worker, its process starting, no heartbeats yet) while
          the worker that claimed it (the run's `prefect.worker.name` label) stopped beating
          for `WORKER_MISSED_BEATS` of its heartbeat periods, and at least `stale_after`: a
          process start may take long on a busy machine, a dead worker never ends it. A
          worker labels a run only after it claimed it (Pending), once it has resolved the
          run's job, which takes a busy worker long too: a run without the label counts as
          silent only after `UNCLAIMED_PENDING` times `stale_after` in Pending."""
        now = self.clock()
        since = now - self.stale_after
        running = {
            run_id
            for run_id, run in runs.items()
            if run.state is not None
            and run.state.is_running()
            and run.state.timestamp is not None
            and run.state.timestamp < since
        }
        seconds = int(self.stale_after.total_seconds())
        quiet = running - (self._beating(running, since, now) if running else set())
        silent = dict.fromkeys(quiet, f"its run sent no heartbeat for {seconds} s")
        starting = [
            run for run in runs.values() if run.state is not None and run.state.is_pending()
        ]
        gone = self._workers_gone(starting, now) if starting else set()
        for run in starting:
            worker = (run.labels or {}).get("prefect.worker.name")
            if worker is not None and worker in gone:
                silent[run.id] = f"its worker {worker} stopped beating before it started"
            elif (
                worker is None
                and run.state is not None
                and run.state.timestamp is not None
                and run.state.timestamp < now - UNCLAIMED_PENDING * self.stale_after
            ):
                silent[run.id] = f"its run stayed Pending for {UNCLAIMED_PENDING * seconds} s"
        return silent

    def _workers_gone(self, runs: Iterable[FlowRun], now: datetime) -> set[str]:
        """Names of the workers of `runs` that stopped beating (or that the pool forgot)."""
        by_pool: dict[str, set[str]] = {}
        for run in runs:
            worker = (run.labels or {}).get("prefect.worker.name")
            if worker is not None and run.work_pool_name is not None:
                by_pool.setdefault(run.work_pool_name, set()).add(str(worker))
        gone: set[str] = set()
        for pool, names in by_pool.items():
            workers = self.client.read_workers_for_work_pool(pool)
            alive = {
                worker.name
                for worker in workers
                if worker.last_heartbeat_time is not None
                and now - worker.last_heartbeat_time < self._worker_silence(worker)
            }
            gone |= names - alive
        return gone

    def _worker_silence(self, worker: Worker) -> timedelta:
        """How long a worker may go without a heartbeat before it counts as gone: its
        `WORKER_MISSED_BEATS` periods, and never less than `stale_after` (a worker busy
        starting its runs' processes beats late)."""
        beats = timedelta(seconds=WORKER_MISSED_BEATS * (worker.heartbeat_interval_seconds or 30))
        return max(beats, self.stale_after)

    def _beating(self, ids: set[UUID], since: datetime, until: datetime) -> set[UUID]:
        from prefect.events.filters import (
            EventFilter,
            EventNameFilter,
            EventOccurredFilter,
            EventResourceFilter,
        )

        wanted = {f"prefect.flow-run.{run_id}": run_id for run_id in ids}
        page = self.client.read_events(
            EventFilter(
                occurred=EventOccurredFilter(since=since, until=until + timedelta(minutes=1)),
                event=EventNameFilter(name=[HEARTBEAT_EVENT]),
                resource=EventResourceFilter(id=list(wanted), distinct=True),
            ),
            limit=_EVENT_PAGE,
        )
        beating: set[UUID] = set()
        while True:
            beating |= {wanted[e.resource.id] for e in page.events if e.resource.id in wanted}
            if page.next_page is None or not page.events:
                return beating
            page = self.client.read_events_page(str(page.next_page))

    def _mark_crashed(self, flow_run_id: UUID, why: str) -> None:
        from prefect.states import Crashed

        # Forced: a run nobody reports for stays Running (or Pending) otherwise.
        self.client.set_flow_run_state(
            flow_run_id,
            Crashed(message=f"The parent run resubmitted this shard: {why}"),
            force=True,
        )


def _reason(message: str | None) -> str:
    """A state's message on one line, cut short."""
    line = " ".join((message or "no message").split())
    return line if len(line) <= 200 else line[:199] + "…"
