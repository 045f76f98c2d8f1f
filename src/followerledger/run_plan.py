"""A snapshot run's start and plan: what it works with (settings, watchlist), its id, its
shards (`shards.py`), the accounts each platform reads, their request batches and what those
batches spend of each rate budget; and one shard's whole work (`snapshot_shard`).

The Prefect flow in `flows/snapshot.py` only orchestrates these steps; each works, and is
tested, without Prefect.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import itertools
import logging
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol, TypeVar, cast

from followerledger import landing, progress, stopping
from followerledger.delta_lake import DeltaLake, delta_lake_of
from followerledger.errors import ConfigError
from followerledger.lake import LakeError
from followerledger.layout import WarehouseLayout
from followerledger.leftovers import sweep_warehouse
from followerledger.observation import Observation
from followerledger.run_log import RunRecord
from followerledger.secret_blocks import with_secret_blocks
from followerledger.settings import Settings, load_settings
from followerledger.shards import AUTO, ShardAssignment, ShardSpec, auto_shards, parse_shards
from followerledger.sources import (
    build_source,
    credential_count,
    planned_requests,
    require_config,
)
from followerledger.sources.base import PlatformSource, Target
from followerledger.sources.http import Logger
from followerledger.sources.throttle import RatePolicy, Throttle
from followerledger.watchlist import Watchlist, load_watchlist
from followerledger.watchlist.accounts import WatchedAccounts

__all__ = [
    "Budgets",
    "RunPlan",
    "ShardResult",
    "StartedRun",
    "credential_of",
    "fetch_batch",
    "interleave",
    "new_run_id",
    "plan_batches",
    "plan_run",
    "plan_targets",
    "read_landed",
    "shard_count",
    "shard_specs",
    "snapshot_shard",
    "start_run",
]

T = TypeVar("T")


def new_run_id(started_at: datetime) -> str:
    """A run id that sorts by start time and never collides: `20261126T100000Z-1a2b3c`."""
    return f"{started_at:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


@dataclasses.dataclass(frozen=True)
class StartedRun:
    """What a snapshot run works with once it has started: its settings and watchlist, where
    it lands, its id and start, and its chosen platforms (each shard builds its own sources:
    `snapshot_shard`)."""

    settings: Settings
    watchlist: Watchlist
    layout: WarehouseLayout
    lake: DeltaLake
    run_id: str
    started_at: datetime
    platforms: tuple[str, ...]
    #: Which accounts fall in which shard, hashed once for all the run's shards.
    assignment: ShardAssignment


def start_run(
    platforms: Sequence[str] | None,
    run_id: str | None,
    *,
    started_at: datetime | None = None,
) -> StartedRun:
    """Start a snapshot run: settings (with the Prefect Secret blocks) and the watchlist read,
    the chosen platforms' settings checked (the one check: `ConfigError` naming what to set),
    the run id given or made, its start given (a fanned-out run's parent's, so every shard
    lands under one `date`) or now, a killed run's leftover files swept, and the lake's
    tables brought up to their columns before shards write concurrently."""
    settings = with_secret_blocks(load_settings())
    watchlist = load_watchlist(settings.watchlist)
    chosen = tuple(p for p in watchlist.platforms if not platforms or p in platforms)
    require_config(settings, chosen)
    started_at = started_at or datetime.now(UTC)
    layout = settings.layout
    lake = delta_lake_of(layout)
    sweep_warehouse(layout)
    lake.upgrade()
    run_id = run_id or new_run_id(started_at)
    assignment = ShardAssignment(cast(WatchedAccounts, watchlist.accounts))
    return StartedRun(settings, watchlist, layout, lake, run_id, started_at, chosen, assignment)


def shard_count(run: StartedRun, shards: int | str | None = None) -> int:
    """How many shards the run has: `shards` as given, else `FOLLOWERLEDGER_SHARDS`;
    `auto` picks by the chosen platforms' accounts (`shards.auto_shards`), and at least as
    many shards as a chosen platform has credentials, so that every credential sends its
    share (`credential_of`)."""
    try:
        wanted = parse_shards(run.settings.shards if shards is None else shards)
    except ValueError as error:
        raise ConfigError(f"shards: {error}") from None
    if wanted != AUTO:
        return int(wanted)
    accounts = sum(run.watchlist.count(p) for p in run.platforms)
    credentials = max((credential_count(run.settings, p) for p in run.platforms), default=1)
    return max(auto_shards(accounts), credentials)


def shard_specs(
    run: StartedRun, shards: int | str | None = None, only: int | None = None
) -> list[ShardSpec]:
    """The run's shards (`shard_count`), or only shard `only` of them (a worker's part of
    a fanned-out run; ConfigError when the run has no such shard)."""
    count = shard_count(run, shards)
    if only is None:
        return [ShardSpec(index, count) for index in range(count)]
    if not 0 <= only < count:
        raise ConfigError(f"shard: {only} is not a shard of {count} (0 to {count - 1})")
    return [ShardSpec(only, count)]


def plan_targets(
    watchlist: Watchlist,
    platform: str,
    identities: Mapping[tuple[str, str], str] | None = None,
    shard: ShardSpec | None = None,
    assignment: ShardAssignment | None = None,
) -> list[Target]:
    """The watched accounts of one platform (of one shard, when given, as `assignment`
    hashed them: the run's, shared by its shards), each with its stable id when already
    known. No `WatchedAccount` is built: a handle and its key are read from the columns."""
    known = identities or {}
    accounts = cast(WatchedAccounts, watchlist.accounts)  # Watchlist holds them as columns
    if shard is None:
        indexes = accounts.on_platform(platform)
    else:
        indexes = (assignment or ShardAssignment(accounts)).members(platform, shard)
    return [Target(accounts.handle(i), known.get((platform, accounts.key(i)))) for i in indexes]


def plan_batches(source: PlatformSource, targets: Sequence[Target]) -> list[list[Target]]:
    """The request batches of one platform, at its API's maximum batch size."""
    return source.plan(targets)


@dataclasses.dataclass(frozen=True, slots=True)
class RunPlan:
    """What a run will ask: each platform's request batches, the requests they take from
    each rate budget, and one line per platform for the run's log."""

    batches: dict[str, list[list[Target]]]
    requests: dict[RatePolicy, int]
    lines: list[str]


def plan_run(
    targets_of: Mapping[str, Sequence[Target]],
    sources: Mapping[str, PlatformSource],
    settings: Settings,
    shard: ShardSpec | None = None,
) -> RunPlan:
    """Plan every source's platform's batches from its targets (`plan_targets`: of one
    shard, when given; by id where the handle resolved before)."""
    batches: dict[str, list[list[Target]]] = {}
    requests: dict[RatePolicy, int] = {}
    lines = []
    for platform, source in sources.items():
        targets = targets_of[platform]
        batches[platform] = plan_batches(source, targets)
        credential = credential_of(settings, platform, shard)
        requests.update(planned_requests(platform, batches[platform], settings, credential))
        resolved = sum(1 for target in targets if target.account_id)
        progress.planned(platform, len(targets), len(batches[platform]))
        where = f" (shard {shard.index} of {shard.count})" if shard is not None else ""
        lines.append(
            f"{platform}{where}: {len(targets)} accounts ({resolved} by id) "
            f"in {len(batches[platform])} requests"
        )
    return RunPlan(batches, requests, lines)


def credential_of(settings: Settings, platform: str, shard: ShardSpec | None) -> int:
    """The credential a shard's requests to a platform send: shard k of a platform with n
    credentials sends credential k mod n (a run that is not sharded, the first)."""
    if shard is None:
        return 0
    return shard.index % credential_count(settings, platform)


def interleave(plans: Mapping[str, Sequence[T]]) -> list[tuple[str, T]]:
    """Every platform's batches, taken in turn: (platform, batch) round-robin."""
    queues = [[(platform, batch) for batch in batches] for platform, batches in plans.items()]
    return [item for turn in itertools.zip_longest(*queues) for item in turn if item is not None]


def fetch_batch(source: PlatformSource, batch: Sequence[Target], run_id: str) -> list[Observation]:
    """One request batch -> exactly one observation per target (never raises for API trouble)."""
    return source.fetch(batch, run_id)


class Budgets(Protocol):
    """The run's rate budgets (`prefect_budgets.SharedBudgets` or `LocalBudgets`): a
    throttle per policy, shared by every shard in the process, and reservation up front."""

    def __call__(self, policy: RatePolicy) -> Throttle:
        """The throttle of a policy's shared budget."""

    def reserve(self, planned: Mapping[RatePolicy, int]) -> None:
        """Take planned requests out of each policy's budget."""


@dataclasses.dataclass(frozen=True, slots=True)
class ShardResult:
    """What one shard landed (picklable, so a Prefect task or another process can return
    it): its run record per platform, the most frequent error detail per platform, and each
    request batch's rows per status, in the order they were answered. The parent does not
    need it: the run log in the lake holds the records (`finish_run`)."""

    shard: ShardSpec
    records: tuple[RunRecord, ...]
    error_details: dict[str, str | None]
    batches: tuple[tuple[str, dict[str, int]], ...]


def _shard_source(
    run: StartedRun, platform: str, shard: ShardSpec, budgets: Budgets, logger: Logger
) -> PlatformSource:
    """The shard's own source of a platform: its own clients, so each caps its own requests
    in flight (FOLLOWERLEDGER_FETCH_CONCURRENCY); the budgets' throttles are shared."""
    credential = credential_of(run.settings, platform, shard)
    return build_source(
        platform, run.settings, credential=credential, throttle_for=budgets, logger=logger
    )


def snapshot_shard(
    run: StartedRun,
    shard: ShardSpec,
    budgets: Budgets,
    identities: Mapping[tuple[str, str], str],
    logger: Logger | None = None,
) -> ShardResult:
    """Everything one shard of a run does, without Prefect: its accounts (`shards.shard_of`)
    of each platform planned into batches on its own sources, their requests reserved up
    front, the batches fetched on a bounded thread pool (the sources retry each request and
    honour rate limits), the rows landed with a `Landing` per platform of this shard, each
    committed (replacing only this shard's earlier rows: a retry lands it again), and the
    shard's run record per platform written. A platform none of whose accounts fall in the
    shard gets neither rows nor a record, and loses what an earlier landing of the run id
    left under this shard (`landing.clear_shard`). A batch that fails to land (a `LakeError`, or the
    run stopped) gives up the shard's uncommitted rows and is raised."""
    log = logger or logging.getLogger(__name__)
    # Each platform's accounts of this shard, hashed once: they decide its sources and plan.
    targets = {
        p: plan_targets(run.watchlist, p, identities, shard, run.assignment) for p in run.platforms
    }
    sources = {
        platform: _shard_source(run, platform, shard, budgets, log)
        for platform in run.platforms
        if targets[platform]
    }
    for platform in run.platforms:
        if platform not in sources:
            landing.clear_shard(run.lake, platform, run.run_id, run.started_at, shard)
    plan = plan_run(targets, sources, run.settings, shard)
    for line in plan.lines:
        log.info("%s", line)
    budgets.reserve(plan.requests)
    answered: list[tuple[str, dict[str, int]]] = []
    workers = max(1, run.settings.fetch_concurrency * max(1, len(sources)))
    with landing.landings(run.lake, sources, run.run_id, run.started_at, shard) as landed:

        def fetch(platform: str, batch: list[Target]) -> tuple[str, dict[str, int]]:
            rows = fetch_batch(sources[platform], batch, run.run_id)
            try:
                counts = landed[platform].add(rows)
            except LakeError:
                stopping.check()  # the landing was given up because the run was stopped
                raise
            progress.batch_done(platform, counts)
            log.debug("%s shard %d: batch of %d: %s", platform, shard.index, len(batch), counts)
            return platform, counts

        # Round-robin, so no platform's queue holds the others back; rows land as they come.
        with concurrent.futures.ThreadPoolExecutor(workers, "shard-fetch") as pool:
            futures = [pool.submit(fetch, p, batch) for p, batch in interleave(plan.batches)]
            try:
                for future in concurrent.futures.as_completed(futures):
                    answered.append(future.result())
            except BaseException as error:
                # A signal in this thread (a shard run on a worker runs here): the stop event
                # first, so the fetches' waits end before the pool joins them.
                stopping.stop_on(error)
                for pending in futures:
                    pending.cancel()
                raise
        records = []
        for platform, source in sources.items():
            landed[platform].commit()
            record = landed[platform].record(
                source.usage(),
                datetime.now(UTC),
                credential=source.credential,
            )
            landing.write_run_record(run.lake, record, shard)
            records.append(record)
        details = {platform: landed[platform].error_detail for platform in sources}
    return ShardResult(shard, tuple(records), details, tuple(answered))


def read_landed(run: StartedRun) -> tuple[list[RunRecord], dict[str, str | None]]:
    """What the run landed, read back from the lake (wherever its shards ran): its records,
    one per platform and shard, in the watchlist's platform order (`run_log.combined` sums
    them per platform, as the `runs` mart does), and the most frequent error detail of each
    platform that has `error` rows."""
    records = landing.read_run_records(run.lake, run.run_id, run.started_at)
    order = {platform: index for index, platform in enumerate(run.platforms)}
    records.sort(
        key=lambda record: (
            order.get(record.platform, len(order)),
            record.platform,
            -1 if record.shard is None else record.shard,
        )
    )
    erring = list(dict.fromkeys(r.platform for r in records if r.statuses.get("error")))
    return records, landing.read_error_details(run.lake, run.run_id, run.started_at, erring)
