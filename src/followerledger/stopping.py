"""Stopping on SIGTERM and SIGINT: one process-wide stop event that every wait watches.

Prefect's workers, systemd and Kubernetes stop a run with SIGTERM; a person at a terminal
with Ctrl-C (SIGINT). A signal is delivered to the main thread only, while a run's waits
(rate-limit resets, backoff, budget reservations, locks) happen in task worker threads,
which the flow must join before the process can exit. So every wait goes through `sleep` or
`hold`, which raise `Stopped` as soon as `STOP` is set, and `STOP` is set by the handlers
`on_signals` installs (the commands) or, inside a flow, by `stop_on` when the signal's
exception reaches the flow's main thread. Flows leave Prefect's own SIGTERM handler in place:
it is what lets a worker's cancellation end the run Cancelled rather than Crashed.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, Final, Protocol

#: Set once a stop signal arrived; cleared when the outermost `on_signals` is entered.
STOP: Final = threading.Event()
#: The signals that stop a run.
SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
#: How often a wait for a lock looks at the stop event (seconds).
LOCK_POLL: Final = 0.2

_depth = 0
_received: list[signal.Signals] = []


class Stopped(BaseException):
    """A stop signal arrived: the run gives up what it was doing.

    A BaseException, like KeyboardInterrupt, so that the handlers that turn a platform's
    failures into `error` rows (`except Exception`) let it through."""

    def __init__(self, signum: int | None = None) -> None:
        self.signum = signum if signum is not None else received()
        super().__init__(f"stopped by {self.name}")

    @property
    def name(self) -> str:
        """The signal's name (`SIGTERM`), or `a signal` when it is not known."""
        return signal.Signals(self.signum).name if self.signum is not None else "a signal"


def received() -> int | None:
    """The first stop signal of this run (seen by `on_signals` or `stop_on`), if known."""
    return int(_received[0]) if _received else None


def check() -> None:
    """Raise `Stopped` if a stop signal arrived."""
    if STOP.is_set():
        raise Stopped()


def sleep(seconds: float) -> None:
    """Sleep `seconds`, or raise `Stopped` as soon as a stop signal arrives."""
    check()
    if seconds > 0 and STOP.wait(seconds):
        raise Stopped()


class _Lock(Protocol):
    def acquire(self, timeout: float | None = ..., poll_interval: float = ...) -> Any: ...

    def release(self) -> None: ...


@contextlib.contextmanager
def hold(
    lock: _Lock,
    timeout_error: type[BaseException],
    waiting: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Hold a file lock (filelock), waiting for it as long as it takes unless a stop signal
    arrives (then `Stopped`); `timeout_error` is the lock's exception for a timed-out try,
    and `waiting` is called once when the lock is not free at first."""
    said = False
    while True:
        check()
        try:
            lock.acquire(timeout=LOCK_POLL, poll_interval=0.05)
            break
        except timeout_error:
            if waiting is not None and not said:
                waiting()
                said = True
    try:
        yield
    finally:
        lock.release()


Handler = Callable[[int, FrameType | None], Any] | int | None


@contextlib.contextmanager
def on_signals() -> Iterator[None]:
    """While inside, SIGTERM and SIGINT set `STOP` and then call the handler installed
    before (Python's own handlers: raise `Stopped` in the main thread, so that `finally`
    blocks abort what the run had not committed). Nested uses chain; the outermost one clears a stop
    left from an earlier run in this process. Outside the main thread it does nothing (Python
    installs signal handlers only there)."""
    global _depth
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _depth == 0:
        STOP.clear()
        _received.clear()
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}

    def handler(signum: int, frame: FrameType | None) -> None:
        if not _received:
            _received.append(signal.Signals(signum))
        STOP.set()
        before = previous[signal.Signals(signum)]
        if before == signal.SIG_IGN:
            return
        # Python's own SIGINT handler would raise KeyboardInterrupt: raise what SIGTERM
        # raises instead, so that callers handle one exception.
        if callable(before) and before is not signal.default_int_handler:
            before(signum, frame)
            return
        raise Stopped(signum)

    for signum in SIGNALS:
        signal.signal(signum, handler)
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        for signum, before in previous.items():
            signal.signal(signum, before if before is not None else signal.SIG_DFL)


def begin() -> None:
    """A run starts: forget a stop an earlier run in this process ended with (unless a
    command's `on_signals` is watching, which did that already)."""
    if _depth == 0:
        STOP.clear()
        _received.clear()


def stop_on(error: BaseException) -> None:
    """Set `STOP` if `error` is what a signal raises in the main thread (Prefect's
    TerminationSignal, KeyboardInterrupt, `Stopped`: BaseExceptions that are no Exception),
    so that the waits in worker threads end too."""
    if isinstance(error, Exception):
        return
    # Named for the tasks' `Stopped`: Prefect's TerminationSignal carries its signal.
    signum = signal.SIGINT if isinstance(error, KeyboardInterrupt) else None
    signum = getattr(error, "signal", None) or getattr(error, "signum", None) or signum
    if signum is not None and not _received:
        _received.append(signal.Signals(signum))
    STOP.set()
