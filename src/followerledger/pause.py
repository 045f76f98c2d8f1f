"""Test-only pause points, so the kill tests (tests/kills.py) can SIGKILL a run at an exact step.

Set `FOLLOWERLEDGER_TEST_PAUSE_AT=<point>` (or `<point>@<n>`: its n-th time, counting from 1)
and the process, on reaching that point, creates the file named by
`FOLLOWERLEDGER_TEST_PAUSE_SIGNAL` (if set) and waits there for an hour, or until a stop signal
arrives (`stopping.STOP`). Points: `delta-write` (a staged row group of a long landing handed
to delta-rs during its commit, one per buffer the landing staged; nothing committed),
`delta-commit` (a lake write about to be committed: a staged one has handed delta-rs every
row, its last data files and commit to follow), `lake-write` (a mart
file has rows written, not finished), `lake-rename` (a mart file finished and synced, not yet
renamed into place), `state-rename`, `catalog-rename`, and `migrate`'s own: `migrate-write`
(a file's rows streamed to the new table, not committed), `migrate-staged` (a dataset's Delta
table committed in staging, not swapped), `migrate-exchanged` (swapped, old files not yet in
the backup) and `migrate-renamed` (no exchange: old files in the backup, the table not yet in
place), `import`'s `import-write` (one partition's rows streamed to the observations table,
not committed), and `compact-optimize` (compaction about to commit a closed day's `OPTIMIZE`
version; `@2`: the first day committed). Unset (always, outside the kill tests) a point costs
one dictionary look-up.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from typing import Final

from followerledger import stopping

PAUSE_AT: Final = "FOLLOWERLEDGER_TEST_PAUSE_AT"
PAUSE_SIGNAL: Final = "FOLLOWERLEDGER_TEST_PAUSE_SIGNAL"

_reached: Counter[str] = Counter()
_lock = threading.Lock()


def point(name: str) -> None:
    """Pause here if the environment asks to (test-only; see the module doc)."""
    wanted = os.environ.get(PAUSE_AT)
    if not wanted:
        return
    target, _, nth = wanted.partition("@")
    if target != name:
        return
    with _lock:
        _reached[name] += 1
        if _reached[name] != int(nth or 1):
            return
    signal_file = os.environ.get(PAUSE_SIGNAL)
    if signal_file:
        with open(signal_file, "w", encoding="utf-8") as marker:
            marker.write(name)
    # A stop signal still stops a paused run: only SIGKILL needs the pause to last.
    stopping.STOP.wait(3600)
