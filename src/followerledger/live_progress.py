"""The CLI's view of `progress`: a live display a person at a terminal can watch (rich).

Per platform one row: request batches done of planned, accounts counted, errors, and a
rate-limit wait with its end time while one lasts; for `refresh`, `import` and `compact` one
row per step. It draws on stderr, only on a terminal; elsewhere (a pipe, a log file, cron)
it draws nothing and the command prints its usual lines, so no control character reaches a
file. While it is up, Prefect's console log lines (warnings, or every line with `--verbose`)
print above it through its console instead of tearing it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from followerledger import progress

__all__ = ["LiveProgress", "StepLines", "shown"]

#: Redraws per second: a few are enough for the eye, and each costs microseconds.
REFRESH_PER_SECOND = 4


def _utc_now() -> datetime:
    return datetime.now(UTC)


class LiveProgress:
    """A `progress.Listener` drawing rows on `console` (when `live`), and the running totals
    behind them. Called from any thread."""

    def __init__(
        self,
        console: Console | None = None,
        *,
        live: bool | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        # No markup: log lines printed through this console are text, brackets and all.
        self.console = console or Console(stderr=True, markup=False, highlight=False)
        self.live = self.console.is_terminal if live is None else live
        self.clock = clock
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}", markup=False),
            TimeElapsedColumn(),
            console=self.console,
            disable=not self.live,
            refresh_per_second=REFRESH_PER_SECOND,
        )
        self._rows: dict[str, TaskID] = {}
        self.planned_batches: dict[str, int] = {}
        self.accounts: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.batches: dict[str, int] = {}
        self.waits: dict[str, datetime] = {}
        self._steps: dict[str, TaskID] = {}
        self._step: str | None = None

    def planned(self, platform: str, accounts: int, batches: int) -> None:
        """A platform's row, with its batches to do: each shard tells its own share, so the
        totals add up."""
        with self._lock:
            row = self._row(platform)
            self.planned_batches[platform] = self.planned_batches.get(platform, 0) + batches
            self._progress.update(row, total=self.planned_batches[platform])
            self._progress.update(row, detail=self._detail(platform))

    def batch_done(self, platform: str, statuses: Mapping[str, int]) -> None:
        """One batch more on the platform's row, its rows counted and its errors."""
        with self._lock:
            row = self._row(platform)
            self.batches[platform] = self.batches.get(platform, 0) + 1
            self.accounts[platform] = self.accounts.get(platform, 0) + sum(statuses.values())
            self.errors[platform] = self.errors.get(platform, 0) + statuses.get("error", 0)
            until = self.waits.get(platform)
            if until is not None and self.clock() >= until:
                del self.waits[platform]
            self._progress.update(row, advance=1, detail=self._detail(platform))

    def waiting(self, platform: str, until: datetime) -> None:
        """The platform's row says it waits for a rate limit, and until when."""
        with self._lock:
            name = self._platform_of(platform)
            row = self._row(name)
            self.waits[name] = max(until, self.waits.get(name, until))
            self._progress.update(row, detail=self._detail(name))

    def step(self, name: str, done: int | None = None, total: int | None = None) -> None:
        """A step's row (the step before it shown done), advanced to `done` of `total`."""
        with self._lock:
            if name not in self._steps:
                self._finish_step()
                self._steps[name] = self._progress.add_task(name, total=total, detail="")
                self._step = name
            row = self._steps[name]
            self._progress.update(row, total=total, completed=done or 0)

    def _finish_step(self) -> None:
        if self._step is None:
            return
        row = self._steps[self._step]
        total = next(task.total for task in self._progress.tasks if task.id == row) or 1
        self._progress.update(row, total=total, completed=total)

    def _row(self, platform: str) -> TaskID:
        if platform not in self._rows:
            self._rows[platform] = self._progress.add_task(platform, total=None, detail="")
        return self._rows[platform]

    def _platform_of(self, who: str) -> str:
        """The row a wait belongs to: waits are worded by rate budget (`x`, `x-2`, a
        Mastodon instance's `mastodon:example.social`), rows are platforms."""
        if who in self._rows:
            return who
        for platform in sorted(self._rows, key=len, reverse=True):
            if who.startswith((f"{platform}:", f"{platform}-", f"{platform}.")):
                return platform
        return who

    def _detail(self, platform: str) -> str:
        text = (
            f"{self.accounts.get(platform, 0):,} accounts, {self.errors.get(platform, 0):,} errors"
        )
        until = self.waits.get(platform)
        if until is not None:
            text += f", waiting for its rate limit until {until.astimezone(UTC):%H:%M:%S} UTC"
        return text

    def summary(self) -> str:
        """One line of totals: accounts and errors over every platform, batches done."""
        with self._lock:
            return (
                f"{sum(self.accounts.values()):,} accounts on {len(self.accounts)} platforms "
                f"in {sum(self.batches.values()):,} batches, {sum(self.errors.values()):,} errors"
            )

    @contextlib.contextmanager
    def shown(self) -> Iterator[LiveProgress]:
        """Listen to `progress` and draw (on a terminal) until the block ends; the display
        is stopped, and the cursor shown again, however the block ends (a signal too)."""
        with progress.watching(self), _prefect_lines_through(self.console, self.live):
            self._progress.start()
            try:
                yield self
            finally:
                with self._lock:
                    self._finish_step()
                self._progress.stop()


@contextlib.contextmanager
def _prefect_lines_through(console: Console, live: bool) -> Iterator[None]:
    """Prefect's console handlers print through `console` while the display is up (their
    own console writes to the stream it got at set-up, under the display's feet)."""
    handlers_module = sys.modules.get("prefect.logging.handlers")
    if not live or handlers_module is None:
        yield
        return
    handler_type: Any = handlers_module.PrefectConsoleHandler
    loggers = [logging.getLogger(), *map(logging.getLogger, list(logging.root.manager.loggerDict))]
    swapped: list[tuple[Any, Console]] = []
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, handler_type) and all(handler is not h for h, _ in swapped):
                swapped.append((handler, handler.console))
                handler.console = console
    try:
        yield
    finally:
        for handler, before in swapped:
            handler.console = before


class StepLines:
    """`--verbose`: each step of a command printed as a line when it begins (Prefect logs
    every task run, and every wait is logged at WARNING, so nothing else is printed)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, markup=False, highlight=False)

    def planned(self, platform: str, accounts: int, batches: int) -> None:
        """Nothing: the snapshot logs its plan."""

    def batch_done(self, platform: str, statuses: Mapping[str, int]) -> None:
        """Nothing: Prefect logs every task run."""

    def waiting(self, platform: str, until: datetime) -> None:
        """Nothing: every wait is logged at WARNING."""

    def step(self, name: str, done: int | None = None, total: int | None = None) -> None:
        """Print a step the first time it is reported."""
        if not done:
            self.console.print(f"{name} (0 of {total})" if total else name, soft_wrap=True)


@contextlib.contextmanager
def shown(verbose: bool) -> Iterator[None]:
    """A command's progress while the block runs: the live display (on a terminal; nothing
    elsewhere), or with `verbose` its steps as lines."""
    if verbose:
        with progress.watching(StepLines()):
            yield
        return
    with LiveProgress().shown():
        yield
