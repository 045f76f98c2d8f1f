"""Rate budgets shared across runs: a Prefect global concurrency limit per platform when a
server is configured (shared by every run on every worker), else a token bucket in this
process.

With a server, a run reserves the requests it plans before it sends any (one write to the
server per budget), and tops up only if it needs more (retries, classification lookups).
Asking the server once per request is not viable: its database also records every task run,
and concurrent slot increments come back 503 and are retried seconds later.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Mapping

import httpx
from prefect import get_run_logger
from prefect.client.orchestration import SyncPrefectClient
from prefect.exceptions import MissingContextError
from prefect.settings import (
    PREFECT_API_AUTH_STRING,
    PREFECT_API_KEY,
    PREFECT_API_URL,
    get_current_settings,
)

from followerledger import stopping
from followerledger.sources.http import LOUD_WAIT, Clock, Logger, say_waiting, utc_now
from followerledger.sources.throttle import RatePolicy, Throttle, process_throttle

PREFIX = "followerledger-"
LOCKED = 423  # the server's answer while a rate limit has no free slot
#: The largest top-up taken at once (never more than a tenth of the budget); top-ups start at
#: one slot and double while a run keeps asking.
TOP_UP = 50

_ENSURED: set[str] = set()
_LOCK = threading.Lock()


def limit_name(policy: RatePolicy) -> str:
    """The global concurrency limit that carries a platform's budget."""
    return PREFIX + policy.name


def ensure_limit(client: SyncPrefectClient, policy: RatePolicy) -> str:
    """Create (or correct) the rate-limit GCL of a policy, once per process and server."""
    name = limit_name(policy)
    key = f"{client.api_url}|{name}|{policy.limit}|{policy.per_seconds}"
    with _LOCK:
        if key not in _ENSURED:
            client.upsert_global_concurrency_limit_by_name(
                name, policy.limit, slot_decay_per_second=policy.per_second
            )
            _ENSURED.add(key)
    return name


class PrefectBudget:
    """One platform's (or Mastodon instance's) share of a Prefect rate limit, held by a run:
    slots reserved from the server and handed out one per request."""

    def __init__(
        self,
        policy: RatePolicy,
        sleep: Callable[[float], None] = stopping.sleep,
        clock: Clock = utc_now,
    ) -> None:
        self.policy = policy
        self.sleep = sleep
        self.clock = clock
        self.largest = max(1, min(TOP_UP, policy.limit // 10))
        self.top_up = 1
        self._lock = threading.Lock()
        self._available = 0
        # A client of its own: inside a run, get_client() hands out the run's shared client,
        # which must not be entered and left from several task threads at once.
        self._client = SyncPrefectClient(
            PREFECT_API_URL.value(),
            auth_string=PREFECT_API_AUTH_STRING.value(),
            api_key=PREFECT_API_KEY.value(),
        )
        self._client.__enter__()
        weakref.finalize(self, self._client.__exit__, None, None, None)
        self.name = ensure_limit(self._client, policy)

    def reserve(self, requests: int) -> None:
        """Reserve slots for requests a run plans (at most the whole budget at once)."""
        slots = min(requests, self.policy.limit)
        if slots > 0:
            with self._lock:
                self._acquire(slots)
                self._available += slots

    def __call__(self) -> None:
        with self._lock:
            if self._available == 0:
                self._acquire(self.top_up)
                self._available = self.top_up
                self.top_up = min(self.largest, self.top_up * 2)
            self._available -= 1

    def _acquire(self, slots: int) -> None:
        """Take slots of the rate limit, waiting as the server says while it is spent.

        What `prefect.concurrency.sync.rate_limit` does, without its per-call queue service
        and events, which cost 0.1-2 s per call under concurrency. A wait likely to last
        `LOUD_WAIT` seconds or more is logged once, at WARNING, before it starts."""
        said = False
        while True:
            try:
                self._client.increment_concurrency_slots(
                    names=[self.name], slots=slots, mode="rate_limit"
                )
                return
            except httpx.HTTPStatusError as error:
                if error.response.status_code != LOCKED:
                    raise
                expected = slots / self.policy.per_second
                if not said and expected >= LOUD_WAIT:
                    why = (
                        f"the shared request budget {self.name} is spent (runs on every "
                        f"worker share it; {slots} request slots needed)"
                    )
                    say_waiting(
                        _logger(), self.policy.name, why, expected, self.clock(), about=True
                    )
                    said = True
                self.sleep(float(error.response.headers.get("Retry-After", "1")))


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    """The run's logger inside a flow or task run (shown with the run), else this module's."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


class SharedBudgets:
    """The throttle factory a flow hands its sources when a Prefect server is configured:
    one PrefectBudget per policy, which the flow can fill before the run starts."""

    def __init__(self) -> None:
        self._budgets: dict[RatePolicy, PrefectBudget] = {}
        self._lock = threading.Lock()

    def budget(self, policy: RatePolicy) -> PrefectBudget:
        """The budget of a policy (created on first use)."""
        with self._lock:
            if policy not in self._budgets:
                self._budgets[policy] = PrefectBudget(policy)
            return self._budgets[policy]

    def __call__(self, policy: RatePolicy) -> Throttle:
        return self.budget(policy)

    def reserve(self, planned: Mapping[RatePolicy, int]) -> None:
        """Reserve every budget's planned requests before the run sends any."""
        for policy, requests in planned.items():
            self.budget(policy).reserve(requests)


class LocalBudgets:
    """The throttle factory without a Prefect server: token buckets in this process, whose
    long waits are logged on `logger` (the flow run's)."""

    def __init__(self, logger: Logger | None = None) -> None:
        self.logger = logger

    def __call__(self, policy: RatePolicy) -> Throttle:
        return process_throttle(policy, self.logger)

    def reserve(self, planned: Mapping[RatePolicy, int]) -> None:
        """Nothing to reserve: the buckets pace each request as it is sent."""


def budgets_for_run(logger: Logger | None = None) -> SharedBudgets | LocalBudgets:
    """Prefect global limits when PREFECT_API_URL is set, else in-process token buckets
    (their long waits logged on `logger`)."""
    if get_current_settings().api.url:
        return SharedBudgets()
    return LocalBudgets(logger)
