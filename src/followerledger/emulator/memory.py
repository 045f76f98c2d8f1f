"""What one running emulator remembers: its world, faults, rate-limit windows and counters."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime, timedelta

from followerledger.emulator.faults import Faults
from followerledger.emulator.world import World, account_id, key_of, platform_api
from followerledger.sources import registry
from followerledger.sources.youtube import QUOTA_ZONE
from followerledger.watchlist import Watchlist


def default_limits() -> dict[str, tuple[int, int]]:
    """(limit, window seconds) per platform, as each platform documents them (each emulator
    module's `LIMIT`; platforms that count quota instead have none)."""
    limits = {name: platform_api(name).LIMIT for name in registry.names()}
    return {name: limit for name, limit in limits.items() if limit is not None}


@dataclasses.dataclass
class Window:
    """A fixed rate-limit window."""

    limit: int
    seconds: int
    used: int = 0
    reset_at: datetime | None = None

    def spend(self, now: datetime) -> bool:
        """Count one request; False when the window is already spent."""
        if self.reset_at is None or now >= self.reset_at:
            self.used = 0
            self.reset_at = now + timedelta(seconds=self.seconds)
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    @property
    def remaining(self) -> int:
        """Requests left in the window."""
        return max(0, self.limit - self.used)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class EmulatorState:
    """Shared by every route of one emulator instance; safe across threads."""

    def __init__(
        self,
        world: World | None = None,
        *,
        clock: Callable[[], datetime] = _utc_now,
        limits: dict[str, tuple[int, int]] | None = None,
        x_post_metric: str = "post_count",
        youtube_quota: int = 10_000,
        x_bearer_token: str | Collection[str] | None = None,
        youtube_api_keys: Collection[str] | None = None,
    ) -> None:
        self.world = world or World()
        self.faults = Faults()
        self.clock = clock
        self.x_post_metric = x_post_metric
        self._lock = threading.Lock()
        self.windows = {
            platform: Window(limit, seconds)
            for platform, (limit, seconds) in {**default_limits(), **(limits or {})}.items()
        }
        self.requests: Counter[str] = Counter()
        self._ids: dict[tuple[str, str], str] = {}
        self.youtube_quota = youtube_quota
        self.youtube_units: dict[str, int] = {}
        #: When set (one token or several), X answers 401 to every other bearer token, as X
        #: does to a wrong one; when None, any bearer token is accepted.
        self.x_bearer_tokens: frozenset[str] | None = (
            None
            if x_bearer_token is None
            else frozenset([x_bearer_token] if isinstance(x_bearer_token, str) else x_bearer_token)
        )
        #: When set, YouTube answers keyInvalid to every other API key.
        self.youtube_api_keys = None if youtube_api_keys is None else frozenset(youtube_api_keys)
        #: Requests accepted per (platform, credential sent): how a run spread its requests
        #: over its credentials. In memory only, never served.
        self.credential_requests: Counter[tuple[str, str]] = Counter()

    def accepts(self, platform: str, credential: str) -> bool:
        """Whether the platform takes this credential; counts it when it does."""
        valid = self.x_bearer_tokens if platform == "x" else self.youtube_api_keys
        if valid is not None and credential not in valid:
            return False
        with self._lock:
            self.credential_requests[(platform, credential)] += 1
        return True

    def count(self, endpoint: str) -> None:
        """Count a request to an endpoint (e.g. 'x:/2/users/by')."""
        with self._lock:
            self.requests[endpoint] += 1

    def set_limit(self, platform: str, limit: int, seconds: int) -> None:
        """Replace a platform's rate-limit window (e.g. to emulate a higher API tier); for
        YouTube, its daily quota units."""
        with self._lock:
            if platform == "youtube":
                self.youtube_quota = limit
            else:
                self.windows[platform] = Window(limit, seconds)

    def spend(self, platform: str) -> tuple[bool, Window | None]:
        """Spend one request of the platform's window."""
        with self._lock:
            window = self.windows.get(platform)
            if window is None:
                return True, None
            return window.spend(self.clock()), window

    def remember(self, platform: str, account_id: str, original: str) -> None:
        """Remember which account an id was handed out for, so later reads by id resolve."""
        with self._lock:
            self._ids[(platform, account_id)] = original

    def preload_watchlist(self, watchlist: Watchlist) -> None:
        """Know the ids of every account of a watchlist from the start."""
        for platform in watchlist.platforms:
            self.preload(platform, [account.handle for account in watchlist.for_platform(platform)])

    def preload(self, platform: str, handles: Iterable[str]) -> None:
        """Know the ids of these accounts from the start (e.g. a watchlist's, for reads by
        ids that an earlier emulator handed out)."""
        for handle in handles:
            original = handle
            for (other, old), rename in self.world.renamed.items():
                if other == platform and key_of(rename.new_handle) == key_of(handle):
                    original = old
            self.remember(platform, account_id(platform, original), original)

    def original_for(self, platform: str, account_id: str) -> str | None:
        """The original handle behind an id, if this emulator knows it."""
        with self._lock:
            return self._ids.get((platform, account_id))

    def spend_youtube_unit(self) -> bool:
        """Count one quota unit for today (Pacific time); False once the day's quota is spent."""
        day = self.clock().astimezone(QUOTA_ZONE).date().isoformat()
        with self._lock:
            used = self.youtube_units.get(day, 0)
            if used >= self.youtube_quota:
                return False
            self.youtube_units[day] = used + 1
            return True

    def reset(self) -> None:
        """Forget faults, counters and spent windows (ids are kept)."""
        with self._lock:
            self.requests.clear()
            self.youtube_units.clear()
            for window in self.windows.values():
                window.used = 0
                window.reset_at = None
        self.faults.clear()
