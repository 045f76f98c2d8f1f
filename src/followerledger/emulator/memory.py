"""What one running emulator remembers: its world, faults, rate-limit windows and counters."""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from followerledger.emulator.faults import Faults
from followerledger.emulator.world import (
    World,
    account_id,
    instagram_caller_id,
    key_of,
    platform_api,
)
from followerledger.sources import registry
from followerledger.sources.youtube import QUOTA_ZONE
from followerledger.watchlist import Watchlist


def default_limits() -> dict[str, tuple[int, int]]:
    """(limit, window seconds) per platform, as each platform documents them (each emulator
    module's `LIMIT`; platforms that count quota instead have none)."""
    limits = {name: platform_api(name).LIMIT for name in registry.names()}
    return {name: limit for name, limit in limits.items() if limit is not None}


@functools.cache
def _window_kind(platform: str) -> tuple[bool, bool]:
    """(rolling, per credential) for a platform's window: its emulator module's `ROLLING`
    and `PER_CREDENTIAL` (both False when the module does not say, or for a name that is
    not a registered platform)."""
    if platform not in registry.names():
        return False, False
    api = platform_api(platform)
    return bool(getattr(api, "ROLLING", False)), bool(getattr(api, "PER_CREDENTIAL", False))


#: A rolling window counts its calls in buckets of this many seconds (bounded memory).
BUCKET_SECONDS: Final = 60


@dataclasses.dataclass
class Window:
    """A rate-limit window: fixed (it resets `seconds` after its first call), or rolling
    (a call counts for `seconds` after it is made, as Meta's rolling hour and 24 hours)."""

    limit: int
    seconds: int
    used: int = 0
    reset_at: datetime | None = None
    rolling: bool = False
    _buckets: deque[tuple[datetime, int]] = dataclasses.field(
        default_factory=deque, repr=False, compare=False
    )

    def spend(self, now: datetime, calls: int = 1) -> bool:
        """Count `calls` requests; False (counting none) when they do not fit the window."""
        if self.rolling:
            return self._spend_rolling(now, calls)
        if self.reset_at is None or now >= self.reset_at:
            self.used = 0
            self.reset_at = now + timedelta(seconds=self.seconds)
        if self.used + calls > self.limit:
            return False
        self.used += calls
        return True

    def _spend_rolling(self, now: datetime, calls: int) -> bool:
        self.expire(now)
        if self.used + calls > self.limit:
            return False
        start = datetime.fromtimestamp(
            now.timestamp() // BUCKET_SECONDS * BUCKET_SECONDS, tz=now.tzinfo or UTC
        )
        if self._buckets and self._buckets[-1][0] == start:
            self._buckets[-1] = (start, self._buckets[-1][1] + calls)
        else:
            self._buckets.append((start, calls))
        self.used += calls
        self.reset_at = self._buckets[0][0] + timedelta(seconds=self.seconds)
        return True

    def expire(self, now: datetime) -> None:
        """A rolling window forgets the calls older than `seconds` (a fixed one does nothing)."""
        if not self.rolling:
            return
        horizon = now - timedelta(seconds=self.seconds)
        while self._buckets and self._buckets[0][0] <= horizon:
            self.used -= self._buckets.popleft()[1]
        oldest = self._buckets[0][0] if self._buckets else None
        self.reset_at = None if oldest is None else oldest + timedelta(seconds=self.seconds)

    def clear(self) -> None:
        """Forget every call."""
        self.used = 0
        self.reset_at = None
        self._buckets.clear()

    @property
    def remaining(self) -> int:
        """Requests left in the window."""
        return max(0, self.limit - self.used)

    def percent(self) -> int:
        """The share of the window spent, as Meta's usage headers give it (a whole number)."""
        return min(100, self.used * 100 // self.limit) if self.limit > 0 else 100


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _tokens(tokens: str | Collection[str] | None) -> frozenset[str] | None:
    if tokens is None:
        return None
    return frozenset([tokens] if isinstance(tokens, str) else tokens)


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
        meta_access_token: str | Collection[str] | None = None,
        threads_access_token: str | Collection[str] | None = None,
        instagram_user_ids: Collection[str] | None = None,
        threads_access: Literal["advanced", "standard"] = "advanced",
        facebook_throttle_code: Literal[32, 80001] = 32,
    ) -> None:
        self.world = world or World()
        self.faults = Faults()
        self.clock = clock
        self.x_post_metric = x_post_metric
        self._lock = threading.Lock()
        self.windows = {
            platform: Window(limit, seconds, rolling=_window_kind(platform)[0])
            for platform, (limit, seconds) in {**default_limits(), **(limits or {})}.items()
        }
        #: Windows of the platforms that limit each credential on its own (Meta's tokens),
        #: made from the platform's window on a credential's first request.
        self.credential_windows: dict[tuple[str, str], Window] = {}
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
        #: The credentials each further platform accepts (None or absent: any non-empty one).
        self.valid_credentials: dict[str, frozenset[str] | None] = {
            "instagram": _tokens(meta_access_token),
            "facebook": _tokens(meta_access_token),
            "threads": _tokens(threads_access_token),
        }
        #: The Instagram professional accounts Business Discovery may be called through (the
        #: caller's own): any other node asked for `business_discovery` answers 803.
        self.instagram_user_ids = frozenset(instagram_user_ids or {instagram_caller_id()})
        #: Threads: "advanced" looks up any eligible profile; "standard" only Meta's own
        #: accounts (@meta, @threads, @instagram, @facebook), as the contract says.
        self.threads_access = threads_access
        #: The code a spent Pages budget answers: 32 (Page calls with a user token, the
        #: default, as the Facebook source sends) or 80001 (a Page or system-user token).
        self.facebook_throttle_code = facebook_throttle_code
        #: Requests accepted per (platform, credential sent): how a run spread its requests
        #: over its credentials. In memory only, never served.
        self.credential_requests: Counter[tuple[str, str]] = Counter()

    def accepts(self, platform: str, credential: str) -> bool:
        """Whether the platform takes this credential; counts it when it does."""
        if platform == "x":
            valid = self.x_bearer_tokens
        elif platform == "youtube":
            valid = self.youtube_api_keys
        else:
            valid = self.valid_credentials.get(platform)
        if not credential or (valid is not None and credential not in valid):
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
                self.windows[platform] = Window(limit, seconds, rolling=_window_kind(platform)[0])
                for key in [key for key in self.credential_windows if key[0] == platform]:
                    del self.credential_windows[key]

    def spend(
        self, platform: str, calls: int = 1, credential: str = ""
    ) -> tuple[bool, Window | None]:
        """Spend `calls` requests of the platform's window (of the credential's own window,
        for a platform that limits each credential on its own)."""
        with self._lock:
            window = self._window(platform, credential)
            if window is None:
                return True, None
            return window.spend(self.clock(), calls), window

    def window(self, platform: str, credential: str = "") -> Window | None:
        """The platform's window as of now (the credential's, where each has its own)."""
        with self._lock:
            window = self._window(platform, credential)
            if window is not None:
                window.expire(self.clock())
            return window

    def _window(self, platform: str, credential: str) -> Window | None:
        window = self.windows.get(platform)
        if window is None or not _window_kind(platform)[1]:
            return window
        key = (platform, credential)
        if key not in self.credential_windows:
            self.credential_windows[key] = Window(
                window.limit, window.seconds, rolling=window.rolling
            )
        return self.credential_windows[key]

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
                window.clear()
            self.credential_windows.clear()
        self.faults.clear()
