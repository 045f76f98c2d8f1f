"""Rate budgets for flows: a Prefect global concurrency limit per platform when a server is
configured (shared by every run on every worker), else a token bucket in this process."""

from __future__ import annotations

import threading
from collections.abc import Callable

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import rate_limit
from prefect.settings import get_current_settings

from followerledger.sources.throttle import RatePolicy, Throttle, process_throttle

PREFIX = "followerledger-"
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


def prefect_throttle(policy: RatePolicy) -> Throttle:
    """A throttle that takes one slot of the policy's Prefect rate limit per request."""
    name = ensure_limit(policy)

    def throttle() -> None:
        rate_limit(name, occupy=1, strict=True)

    return throttle


def throttle_factory() -> Callable[[RatePolicy], Throttle]:
    """Prefect global limits when PREFECT_API_URL is set, else in-process token buckets."""
    if get_current_settings().api.url:
        return prefect_throttle
    return process_throttle
