"""The live progress display, drawn on a rich console made a terminal (or not) in memory."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prefect.settings import PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW, temporary_settings
from rich.console import Console

from followerledger import progress
from followerledger.live_progress import LiveProgress
from followerledger.sources.http import say_waiting

#: Any ANSI escape or control sequence (CSI, OSC, a lone ESC) and carriage returns.
CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b|\r")
NOW = datetime(2026, 12, 1, 14, 50, 0, tzinfo=UTC)


def terminal(width: int = 160) -> tuple[Console, io.StringIO]:
    """A console that believes it draws on a terminal, writing to memory."""
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=width, markup=False)
    return console, screen


def plain(text: str) -> str:
    """What a person reads: the control sequences taken out."""
    return CONTROL.sub("", text)


def frames(text: str) -> list[list[str]]:
    """What each redraw left on the screen, as lines: rich erases the display's region line
    by line (`ESC [2K`, from its last line up) and draws it again."""
    return [
        [line for line in plain(part).split("\n") if line.strip()] for part in text.split("\x1b[2K")
    ]


def last_frame(text: str) -> list[str]:
    """The display's rows as a person sees them at the end."""
    return frames(text)[-1]


def test_on_a_terminal_each_platform_has_a_row_with_batches_accounts_errors_and_the_wait() -> None:
    console, screen = terminal()
    display = LiveProgress(console, clock=lambda: NOW)
    assert display.live
    until = NOW + timedelta(minutes=5, seconds=7)
    with display.shown():
        progress.planned("x", 250, 3)
        progress.planned("bluesky", 30, 2)
        progress.batch_done("x", {"ok": 98, "not_found": 2})
        progress.batch_done("x", {"ok": 40, "error": 60})
        progress.batch_done("bluesky", {"ok": 25})
        progress.waiting("x", until)
    rows = last_frame(screen.getvalue())
    x_row = next(row for row in rows if row.startswith("x "))
    bluesky_row = next(row for row in rows if row.startswith("bluesky "))
    assert "2/3" in x_row
    assert "200 accounts, 60 errors" in x_row
    assert "waiting for its rate limit until 14:55:07 UTC" in x_row
    assert "1/2" in bluesky_row
    assert "25 accounts, 0 errors" in bluesky_row
    assert "waiting" not in bluesky_row
    assert screen.getvalue().rstrip("\r\n").endswith("\x1b[?25h")  # the cursor shown again
    assert display.summary() == "225 accounts on 2 platforms in 3 batches, 60 errors"


def test_the_shards_shares_of_a_platform_add_up_on_its_row() -> None:
    console, screen = terminal()
    display = LiveProgress(console, clock=lambda: NOW)
    with display.shown():
        for _shard in range(3):  # each shard tells its own share
            progress.planned("x", 100, 2)
        for _batch in range(4):
            progress.batch_done("x", {"ok": 50})
    x_row = next(row for row in last_frame(screen.getvalue()) if row.startswith("x "))
    assert "4/6" in x_row
    assert "200 accounts" in x_row


def test_a_wait_worded_by_rate_budget_lands_on_its_platform_row_and_clears_once_over() -> None:
    console, screen = terminal()
    now = [NOW]
    display = LiveProgress(console, clock=lambda: now[0])
    with display.shown():
        progress.planned("mastodon", 4, 4)
        progress.waiting("mastodon:example.social", NOW + timedelta(seconds=30))
        assert "mastodon" in display.waits
        now[0] = NOW + timedelta(seconds=31)
        progress.batch_done("mastodon", {"ok": 1})
    assert display.waits == {}
    rows = last_frame(screen.getvalue())
    assert not any("mastodon:" in row for row in rows)  # no row of its own
    assert "waiting" not in next(row for row in rows if row.startswith("mastodon "))


def test_the_one_wording_of_every_wait_reports_its_end_to_the_display() -> None:
    display = LiveProgress(Console(file=io.StringIO()), clock=lambda: NOW)
    with display.shown():
        say_waiting(logging.getLogger("test"), "x", "rate-limited (429)", 299.6, NOW)
    assert display.waits == {"x": NOW + timedelta(seconds=300)}


def test_steps_of_a_command_each_get_a_row_and_the_one_before_is_shown_done() -> None:
    console, screen = terminal()
    with LiveProgress(console).shown():
        progress.step("refresh: reading the lake's changes")
        progress.step("refresh: daily models")
        progress.step("import: writing (partitions)", 2, 5)
    rows = last_frame(screen.getvalue())
    done = {row.split("  ")[0].split(" ━")[0]: row for row in rows}
    assert "1/1" in done["refresh: reading the lake's changes"]
    assert "1/1" in done["refresh: daily models"]
    assert "5/5" in done["import: writing (partitions)"]


def test_off_a_terminal_it_draws_nothing_at_all() -> None:
    screen = io.StringIO()
    display = LiveProgress(Console(file=screen))
    assert not display.live
    with display.shown():
        progress.planned("x", 10, 1)
        progress.batch_done("x", {"ok": 10})
        progress.waiting("x", NOW)
        progress.step("refresh: daily models", 1, 2)
    assert screen.getvalue() == ""
    assert display.summary() == "10 accounts on 1 platforms in 1 batches, 0 errors"


@pytest.fixture
def prefect_console_handler() -> Iterator[tuple[logging.Handler, io.StringIO]]:
    """A Prefect console handler on the root logger, writing where it was set up."""
    from prefect.logging.handlers import PrefectConsoleHandler

    stream = io.StringIO()
    handler = PrefectConsoleHandler(stream=stream)
    handler.setLevel(logging.WARNING)
    logging.getLogger().addHandler(handler)
    try:
        yield handler, stream
    finally:
        logging.getLogger().removeHandler(handler)


def test_prefect_console_lines_print_above_the_display_not_through_it(
    prefect_console_handler: tuple[logging.Handler, io.StringIO],
) -> None:
    _, stream = prefect_console_handler
    console, screen = terminal()
    logger = logging.getLogger("prefect.task_runs.test")
    # Outside a run, Prefect's API handler (set up by an earlier test in this process) warns
    # that the line has no flow run to go to: not what this test is about.
    with temporary_settings({PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW: "ignore"}):
        with LiveProgress(console).shown():
            progress.planned("x", 10, 2)
            logger.warning("x: rate-limited (429), waiting 9 s until 14:50:09 UTC [brackets kept]")
            progress.batch_done("x", {"ok": 5})
        logger.warning("after the display")
    drawn = next(frame for frame in frames(screen.getvalue()) if "rate-limited" in str(frame))
    # On a line of its own (not glued to a row), the rows drawn again below it.
    # Prefect's console formatter may put its time and level first, set up by an earlier test.
    assert "x: rate-limited (429), waiting 9 s until 14:50:09 UTC" in drawn[0]
    assert drawn[0].endswith("[brackets kept]")
    assert drawn[1].startswith("x ")
    assert last_frame(screen.getvalue())[0].startswith("x ")
    assert "1/2" in last_frame(screen.getvalue())[0]
    assert "rate-limited" not in stream.getvalue()
    assert "after the display" in stream.getvalue()  # its own console again
