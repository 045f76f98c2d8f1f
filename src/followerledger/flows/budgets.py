"""Rate budgets for flows: a Prefect global concurrency limit per platform when a server is
configured (shared by every run on every worker), else a token bucket in this process."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.settings import (
    PREFECT_API_AUTH_STRING,
    PREFECT_API_KEY,
    PREFECT_API_URL,
    get_current_settings,
)

from followerledger.sources.throttle import RatePolicy, Throttle, process_throttle

PREFIX = "followerledger-"
LOCKED = 423  # the server's answer while a rate limit has no free slot
#: The largest reservation of slots taken from the server at once (and never more than a tenth
#: of the budget). Reservations start at one slot and double while a run keeps asking, so a
#: run of n requests writes to the server about log2(n) times instead of n times (its SQLite
#: database is also busy recording every task run) and leaves fewer than n slots unused when
#: it ends; unused slots decay like any other.
RESERVE = 50

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
    """A throttle backed by a Prefect rate limit, taking slots from the server in small
    reservations and handing them out one per request."""

    def __init__(self, policy: RatePolicy) -> None:
        self.largest = max(1, min(RESERVE, policy.limit // 10))
        self.reserve = 1
        self._lock = threading.Lock()
        self._available = 0
        self.acquisitions = 0
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

    def __call__(self) -> None:
        with self._lock:
            if self._available == 0:
                self._acquire()
                self.acquisitions += 1
                self._available = self.reserve
                self.reserve = min(self.largest, self.reserve * 2)
            self._available -= 1

    def _acquire(self) -> None:
        """Take `reserve` slots of the rate limit, waiting as the server says when it is spent.

        This is what `prefect.concurrency.sync.rate_limit` does, without its per-call queue
        service and events, which cost 0.1-2 s per call under concurrency."""
        while True:
            try:
                self._client.increment_concurrency_slots(
                    names=[self.name], slots=self.reserve, mode="rate_limit"
                )
                return
            except httpx.HTTPStatusError as error:
                if error.response.status_code != LOCKED:
                    raise
                time.sleep(float(error.response.headers.get("Retry-After", "1")))


def prefect_throttle(policy: RatePolicy) -> Throttle:
    """A throttle drawing on the policy's Prefect rate limit."""
    return PrefectBudget(policy)


def throttle_factory() -> Callable[[RatePolicy], Throttle]:
    """Prefect global limits when PREFECT_API_URL is set, else in-process token buckets."""
    if get_current_settings().api.url:
        return prefect_throttle
    return process_throttle
