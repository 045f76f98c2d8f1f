"""What a snapshot run imports: nothing it never uses (issue 15, flat memory).

Apprise (alerts, only when they are on), the report's charts and page libraries (the report
command and the hourly flow's report task) and ruamel.yaml (the watchlist's round-trip
reading, only when the fast path refuses) cost a snapshot process ~17 MB of RSS it never
needs; each is imported where it is used.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_NEVER: tuple[str, ...] = ("apprise", "vl_convert", "jinja2", "markdown", "ruamel")


def loaded_after(code: str) -> list[str]:
    """The modules of `_NEVER` loaded in a fresh interpreter after running `code`."""
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {_NEVER!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_importing_the_snapshot_flow_loads_no_alert_report_or_round_trip_library() -> None:
    assert loaded_after("import followerledger.flows.snapshot") == []


def test_a_watchlist_read_by_the_fast_path_loads_no_round_trip_library(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text("brands:\n  Dell:\n    x: [DellOutlet, DellCares]\n", "utf-8")
    code = (
        "from pathlib import Path\n"
        "from followerledger.watchlist import load_watchlist\n"
        f"assert load_watchlist(Path({str(path)!r})).accounts\n"
    )
    assert loaded_after(code) == []


def test_a_watchlist_the_fast_path_refuses_is_still_read_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    # `1e3` is text to the fast (YAML 1.1) loader and a number to YAML 1.2: judged round-trip.
    path.write_text("brands:\n  Dell:\n    x: [DellOutlet]\n    bluesky: [1e3]\n", "utf-8")
    code = (
        "from pathlib import Path\n"
        "from followerledger.watchlist import WatchlistError, load_watchlist\n"
        "try:\n"
        f"    load_watchlist(Path({str(path)!r}))\n"
        "except WatchlistError as error:\n"
        "    assert ':4:' in str(error), error  # the round-trip reading's line\n"
    )
    assert loaded_after(code) == ["ruamel"]
