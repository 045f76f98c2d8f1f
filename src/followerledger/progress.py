"""Progress of a command's work, told to whoever watches (issue 15 item 5).

The library reports what happens (a platform's plan, a batch done, a rate-limit wait, a step
of a refresh) through the module-level functions below; a display (the CLI's live view, a
Prefect progress artifact) listens by `watching(listener)`. Nobody watching costs one check
per call. Listeners are called from any thread and must not raise.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Protocol

__all__ = [
    "Listener",
    "batch_done",
    "planned",
    "step",
    "waiting",
    "watching",
]


class Listener(Protocol):
    """What a display implements; every method is optional in spirit (do nothing)."""

    def planned(self, platform: str, accounts: int, batches: int) -> None:
        """A platform's share of the work is known: accounts and request batches (each
        shard tells its own share; a display adds them up)."""

    def batch_done(self, platform: str, statuses: Mapping[str, int]) -> None:
        """One request batch of `platform` answered: its rows per status."""

    def waiting(self, platform: str, until: datetime) -> None:
        """`platform` waits for a rate limit until `until` (UTC)."""

    def step(self, name: str, done: int | None = None, total: int | None = None) -> None:
        """A named step of a command (refresh, import, compaction) began or advanced."""


_LISTENERS: list[Listener] = []
_LOCK = threading.Lock()


@contextlib.contextmanager
def watching(listener: Listener) -> Iterator[Listener]:
    """Tell `listener` everything reported until the block ends."""
    with _LOCK:
        _LISTENERS.append(listener)
    try:
        yield listener
    finally:
        with _LOCK:
            _LISTENERS.remove(listener)


def _listeners() -> list[Listener]:
    with _LOCK:
        return list(_LISTENERS)


def planned(platform: str, accounts: int, batches: int) -> None:
    """Report a platform's planned accounts and request batches."""
    for listener in _listeners():
        listener.planned(platform, accounts, batches)


def batch_done(platform: str, statuses: Mapping[str, int]) -> None:
    """Report one answered request batch and its rows per status."""
    for listener in _listeners():
        listener.batch_done(platform, statuses)


def waiting(platform: str, until: datetime) -> None:
    """Report a rate-limit wait and its end (UTC)."""
    for listener in _listeners():
        listener.waiting(platform, until)


def step(name: str, done: int | None = None, total: int | None = None) -> None:
    """Report a command's step (and how far it is, when countable)."""
    for listener in _listeners():
        listener.step(name, done, total)
