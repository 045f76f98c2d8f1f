"""The steps `import`, `refresh` and `compact` report to a display (`progress.step`), run for
real on a local Delta lake: in order, countable ones counted, never one per row."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path

from followerledger import progress
from followerledger.compaction import compact
from followerledger.history_import import WRITING_STEP, import_history
from followerledger.layout import WarehouseLayout
from followerledger.refresh import refresh

HEADER = "observed_at,platform,handle,followers\n"


class Steps:
    """A listener keeping every step reported, with its count."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int | None, int | None]] = []

    def planned(self, platform: str, accounts: int, batches: int) -> None:
        """Not a step."""

    def batch_done(self, platform: str, statuses: Mapping[str, int]) -> None:
        """Not a step."""

    def waiting(self, platform: str, until: datetime) -> None:
        """Not a step."""

    def step(self, name: str, done: int | None = None, total: int | None = None) -> None:
        self.seen.append((name, done, total))

    def names(self) -> list[str]:
        """Each step's name once, in the order they began."""
        return list(dict.fromkeys(name for name, _, _ in self.seen))


def test_import_refresh_and_compact_report_their_steps_in_order(tmp_path: Path) -> None:
    layout = WarehouseLayout.at(tmp_path / "warehouse")
    first = tmp_path / "first.csv"
    first.write_text(HEADER + "2026-01-01,x,HP,5\n2026-01-02,x,HP,6\n2026-01-01,bluesky,hp.com,7\n")
    second = tmp_path / "second.csv"
    second.write_text(HEADER + "2026-01-01T12:00:00Z,x,HP,8\n")

    imported = Steps()
    with progress.watching(imported):
        import_history(first, layout)
    refreshed = Steps()
    with progress.watching(refreshed):
        import_history(second, layout)  # a second file in the day (x, 2026-01-01)
        refreshed.seen.clear()
        refresh(layout, None)
    compacted = Steps()
    with progress.watching(compacted):
        compact(layout, None, grace=timedelta(0))

    assert imported.names() == ["import: reading and checking the file", WRITING_STEP]
    # Three partitions: (x, 01-01), (x, 01-02), (bluesky, 01-01), each counted once done.
    assert [(done, total) for name, done, total in imported.seen if name == WRITING_STEP] == [
        (0, 3),
        (1, 3),
        (2, 3),
        (3, 3),
    ]
    assert refreshed.names() == [
        "refresh: reading the lake's changes",
        "refresh: incremental models",
        "refresh: daily models",
        "refresh: snapshot models",
        "refresh: publishing the catalog",
    ]
    assert compacted.names() == [
        "compact: observations",
        "compact: publishing the catalog",
        "compact: vacuum",
    ]
    assert ("compact: observations", 0, 1) in compacted.seen  # one closed day to compact
