"""Request budgets shared by everything that talks to one platform.

Each platform documents a request rate (X: 300 user lookups per 15 minutes per app; Mastodon:
300 requests per 5 minutes per IP and instance; YouTube: 10,000 quota units a day). A throttle
is called before every request and blocks until the budget allows it. In one process the
budget is a token bucket shared by every run in that process; with a Prefect server the flow
swaps in a Prefect global concurrency limit used as a rate limit, so concurrent runs on
different workers share it too (see flows/snapshot.py). A bucket's wait of `LOUD_WAIT`
seconds or more is logged at WARNING on the caller's logger, worded as every rate-limit wait.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Final

from followerledger import stopping
from followerledger.sources import registry
from followerledger.sources.http import LOUD_WAIT, Logger, say_waiting, utc_now
from followerledger.sources.platform import RatePolicy

__all__ = ["POLICIES", "RatePolicy", "Throttle", "TokenBucket", "policy_for", "process_throttle"]

Throttle = Callable[[], None]


#: Each platform's documented limit (its spec's `policy`, ../shared/contracts).
POLICIES: Final[dict[str, RatePolicy]] = {spec.name: spec.policy for spec in registry.SPECS}


def policy_for(
    platform: str,
    instance: str | None = None,
    budgets: Mapping[str, tuple[int, float]] | None = None,
) -> RatePolicy:
    """The budget of a platform (a configured one, else the documented one), per instance
    for Mastodon (limits are per server)."""
    return registry.platform(platform).rate_policy(instance, budgets)


class TokenBucket:
    """A thread-safe token bucket: `capacity` requests at once, refilled at `rate` per second;
    `name` (the platform) and `wall_clock` word the log line of a long wait."""

    def __init__(
        self,
        capacity: int,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = stopping.sleep,
        *,
        name: str = "requests",
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.capacity = float(capacity)
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self.name = name
        self.wall_clock = wall_clock
        self._tokens = float(capacity)
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self, logger: Logger | None = None) -> float:
        """Take one token, sleeping until one is available; return the seconds waited. A wait
        of `LOUD_WAIT` seconds or more is first logged at WARNING on `logger` (if given)."""
        with self._lock:
            now = self.clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            if logger is not None and wait >= LOUD_WAIT:
                pace = f"one request every {1 / self.rate:.3g} s"
                say_waiting(
                    logger, self.name, f"rate budget spent ({pace})", wait, self.wall_clock()
                )
            self.sleep(wait)
        return wait


_BUCKETS: dict[RatePolicy, TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def process_throttle(policy: RatePolicy, logger: Logger | None = None) -> Throttle:
    """A throttle shared by every client of this policy in this process; its long waits are
    logged on `logger` (default: this module's)."""
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get(policy)
        if bucket is None:
            bucket = _BUCKETS[policy] = TokenBucket(
                policy.limit, policy.per_second, name=policy.name
            )
    said_on = logger or logging.getLogger(__name__)

    def throttle() -> None:
        bucket.take(said_on)

    return throttle
