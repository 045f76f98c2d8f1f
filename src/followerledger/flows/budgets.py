"""Rate budgets for flows: a Prefect global concurrency limit per platform when a server is
configured (shared by every run on every worker), else a token bucket in this process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
from prefect.client.orchestration import get_client
from prefect.settings import get_current_settings

from followerledger.sources.throttle import RatePolicy, Throttle, process_throttle

PREFIX = "followerledger-"
LOCKED = 423  # the server's answer while a rate limit has no free slot
#: Slots reserved from the server at a time (a tenth of the budget, at most this many): one
#: write to the server per reservation instead of one per request, which matters because
#: the server's SQLite database is also busy recording every task run. At most a
#: reservation less one goes unused when a run ends; it decays like any other slot.
RESERVE = 50

_ENSURED: set[str] = set()
_LOCK = threading.Lock()


def limit_name(policy: RatePolicy) -> str:
    """The global concurrency limit that carries a platform's budget."""
    return PREFIX + policy.name


def ensure_limit(policy: RatePolicy) -> str:
    """Create (or correct) the rate-limit GCL of a policy once per process; return its name."""
    name = limit_name(policy)
    with _LOCK:
        if name in _ENSURED:
            return name
        with get_client(sync_client=True) as client:
            client.upsert_global_concurrency_limit_by_name(
                name, policy.limit, slot_decay_per_second=policy.per_second
            )
        _ENSURED.add(name)
    return name


class PrefectBudget:
    """A throttle backed by a Prefect rate limit, taking slots from the server in small
    reservations and handing them out one per request."""

    def __init__(self, policy: RatePolicy) -> None:
        self.name = ensure_limit(policy)
        self.reserve = max(1, min(RESERVE, policy.limit // 10))
        self._lock = threading.Lock()
        self._available = 0
        self.acquisitions = 0

    def __call__(self) -> None:
        with self._lock:
            if self._available == 0:
                self._acquire()
                self.acquisitions += 1
                self._available = self.reserve
            self._available -= 1

    def _acquire(self) -> None:
        """Take `reserve` slots of the rate limit, waiting as the server says when it is spent.

        This is what `prefect.concurrency.sync.rate_limit` does, without its per-call queue
        service and events, which cost 0.1-2 s per call under concurrency."""
        with get_client(sync_client=True) as client:
            while True:
                try:
                    client.increment_concurrency_slots(
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
