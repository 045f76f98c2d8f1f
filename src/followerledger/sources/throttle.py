"""Request budgets shared by everything that talks to one platform.

Each platform documents a request rate (X: 300 user lookups per 15 minutes per app; Mastodon:
300 requests per 5 minutes per IP and instance; YouTube: 10,000 quota units a day). A throttle
is called before every request and blocks until the budget allows it. In one process the
budget is a token bucket shared by every run in that process; with a Prefect server the flow
swaps in a Prefect global concurrency limit used as a rate limit, so concurrent runs on
different workers share it too (see flows/snapshot.py).
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Final

Throttle = Callable[[], None]


@dataclasses.dataclass(frozen=True, slots=True)
class RatePolicy:
    """A documented request budget: `limit` requests per `per_seconds`."""

    name: str
    limit: int
    per_seconds: float

    @property
    def per_second(self) -> float:
        """The sustained rate the budget allows."""
        return self.limit / self.per_seconds


#: Documented limits (../shared/contracts). Bluesky's AppView publishes none; we use the PDS
#: figure (3,000 per 5 minutes) as a polite ceiling.
POLICIES: Final[dict[str, RatePolicy]] = {
    "x": RatePolicy("x", 300, 15 * 60),
    "bluesky": RatePolicy("bluesky", 3000, 5 * 60),
    "mastodon": RatePolicy("mastodon", 300, 5 * 60),
    "youtube": RatePolicy("youtube", 10_000, 24 * 3600),
}


def policy_for(
    platform: str,
    instance: str | None = None,
    budgets: Mapping[str, tuple[int, float]] | None = None,
) -> RatePolicy:
    """The budget of a platform (a configured one, else the documented one), per instance
    for Mastodon (limits are per server)."""
    base = POLICIES[platform]
    if budgets and platform in budgets:
        limit, seconds = budgets[platform]
        base = RatePolicy(platform, limit, seconds)
    if instance is None:
        return base
    suffix = re.sub(r"[^a-z0-9]+", "-", instance.lower()).strip("-")
    return dataclasses.replace(base, name=f"{base.name}-{suffix}")


class TokenBucket:
    """A thread-safe token bucket: `capacity` requests at once, refilled at `rate` per second."""

    def __init__(
        self,
        capacity: int,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.capacity = float(capacity)
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self._tokens = float(capacity)
        self._stamp = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Take one token, sleeping until one is available; return the seconds waited."""
        with self._lock:
            now = self.clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self.sleep(wait)
        return wait


_BUCKETS: dict[RatePolicy, TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def process_throttle(policy: RatePolicy) -> Throttle:
    """A throttle shared by every client of this policy in this process."""
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get(policy)
        if bucket is None:
            bucket = _BUCKETS[policy] = TokenBucket(policy.limit, policy.per_second)

    def throttle() -> None:
        bucket.take()

    return throttle
