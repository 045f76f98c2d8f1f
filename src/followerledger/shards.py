"""Shards: a snapshot run's accounts split into stable parts, each fetched and landed on its
own (one Prefect task, or one worker's run), each landing replacing only its own rows.

An account's shard is a hash of its watchlist entry, not of its platform id: the entry is
known before any run, does not change when a handle first resolves, and a platform rename
keeps it, so adding or removing accounts moves only those accounts. A Mastodon account's key
is its instance only: one instance's client, version check and rate budget stay in one
shard (docs/design/issue15-shards.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import threading
from array import array
from typing import Any, Final, Protocol

__all__ = [
    "AUTO",
    "AUTO_ACCOUNTS",
    "AUTO_MAX",
    "ShardAssignment",
    "ShardSpec",
    "auto_shards",
    "parse_shards",
    "shard_key",
    "shard_of",
]

#: The setting's word for "choose from the watchlist's size" (`auto_shards`).
AUTO: Final = "auto"
#: Accounts per shard that `auto` aims at, and the most shards it picks.
AUTO_ACCOUNTS: Final = 25_000
AUTO_MAX: Final = 8


@dataclasses.dataclass(frozen=True, slots=True)
class ShardSpec:
    """One shard of a run: its index (0 up to `count` less one) of `count` shards."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count}: no such shard")


def shard_key(platform: str, handle: str) -> str:
    """What an account is hashed by: its normalized watchlist handle; on Mastodon, only
    the instance (`user@instance` -> `instance`)."""
    if platform == "mastodon":
        return handle.rpartition("@")[2]
    return handle


def shard_of(platform: str, key: str, shards: int) -> int:
    """The shard (0 up to `shards` less one) of the account with this normalized handle: a
    blake2b hash of `platform:key` (`shard_key`), the same in every process and release."""
    if shards < 1:
        raise ValueError(f"shards must be 1 or more, not {shards}")
    digest = hashlib.blake2b(
        f"{platform}:{shard_key(platform, key)}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big") % shards


def auto_shards(accounts: int) -> int:
    """The shards `auto` picks for a run of this many accounts: ceil(accounts / 25,000),
    from 1 to 8.

    Measured (docs/design/issue15-shards.md, §2b): in one process more shards do not fetch
    faster, since every shard's requests share the platform's rate budget and token bucket;
    what the speed-up came from was dropping the task per batch. Each shard costs up to one
    partly filled request and one Delta commit per platform, so a shard should hold many
    batches: 25,000 accounts are ~250 X requests, where one partial batch per platform adds
    under 2%. A shard is also what a Prefect retry fetches again, so a 100,000-account run
    (4 shards) retries a quarter. Eight at most: 8 shards x 4 platforms = 32 concurrent
    commits per partition, inside the 25-49 the spike committed without a failure; spread
    over more workers with an explicit count.
    """
    return max(1, min(AUTO_MAX, math.ceil(accounts / AUTO_ACCOUNTS)))


def parse_shards(value: object) -> str | int:
    """`FOLLOWERLEDGER_SHARDS` read: `auto`, or a whole number of 1 or more (ValueError,
    naming the rule, otherwise)."""
    if isinstance(value, bool):
        raise ValueError("must be 'auto' or a whole number of 1 or more")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip().lower()
        if text == AUTO:
            return AUTO
        try:
            number = int(text)
        except ValueError:
            raise ValueError("must be 'auto' or a whole number of 1 or more") from None
    if number < 1:
        raise ValueError("must be 'auto' or a whole number of 1 or more")
    return number


class _Accounts(Protocol):
    def on_platform(self, platform: str) -> array[int]: ...

    def key(self, i: int) -> str: ...


class ShardAssignment:
    """Which watched accounts of each platform fall in each shard (`shard_of`), hashed once
    per platform and shard count, by whichever shard asks first: a run's shards plan at once,
    on threads, and each reads only its own accounts."""

    def __init__(self, accounts: _Accounts) -> None:
        self._accounts = accounts
        self._members: dict[tuple[str, int], list[array[int]]] = {}
        self._lock = threading.Lock()

    def members(self, platform: str, shard: ShardSpec) -> array[int]:
        """The indexes (in the watchlist's accounts) of a platform's accounts in `shard`."""
        with self._lock:
            found = self._members.get((platform, shard.count))
            if found is None:
                found = [array("i") for _ in range(shard.count)]
                for i in self._accounts.on_platform(platform):
                    found[shard_of(platform, self._accounts.key(i), shard.count)].append(i)
                self._members[(platform, shard.count)] = found
            return found[shard.index]

    def __getstate__(self) -> dict[str, Any]:
        # A lock does not pickle; what was hashed is worth keeping.
        return {"_accounts": self._accounts, "_members": self._members}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
