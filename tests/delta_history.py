"""A migrated warehouse whose Delta tables have several versions, each dated an hour apart.

delta-rs dates a version for time travel by its commit file's modification time (the Delta
protocol's rule without in-commit timestamps), so setting those times gives every version a
known moment, and tests of "as of a time" assert against it with no clock involved.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from deltalake import DeltaTable

from followerledger.delta_lake import OBSERVATIONS, RUN_LOG, DeltaDataset, delta_lake_of
from followerledger.history_import import read_history
from followerledger.landing import Landing, write_run_record
from followerledger.layout import WarehouseLayout
from followerledger.migration import migrate
from followerledger.observation import Observation
from followerledger.refresh import refresh
from followerledger.run_log import RunRecord
from followerledger.watchlist import load_watchlist
from tests.old_lake import old_lake, write_import

#: The first commit's moment; commit i (both tables, in the order they were made) is i hours on.
FIRST: datetime = datetime(2026, 11, 20, tzinfo=UTC)
RUN_AT: datetime = datetime(2026, 11, 20, 6, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class History:
    """The warehouse, and when each version of each table was committed."""

    warehouse: Path
    layout: WarehouseLayout
    #: dataset name -> version -> its commit's moment.
    committed: dict[str, dict[int, datetime]]

    def uri(self, dataset: DeltaDataset) -> str:
        """The dataset's table."""
        return delta_lake_of(self.layout).table_uri(dataset)

    def rows(self, dataset: DeltaDataset, version: int | None) -> int:
        """Rows of that version as delta-rs reads them (0 for no version)."""
        if version is None:
            return 0
        return int(DeltaTable(self.uri(dataset), version=version).to_pyarrow_table().num_rows)

    def in_effect(self, dataset: DeltaDataset, moment: datetime) -> int | None:
        """The last version committed at or before `moment`, from the dates set here."""
        versions = [v for v, at in self.committed[dataset.name].items() if at <= moment]
        return max(versions) if versions else None


def _rows(run_id: str, count: int, platform: str = "x") -> list[Observation]:
    return [
        Observation(
            run_id=run_id,
            observed_at=RUN_AT,
            platform=platform,
            handle=f"acct{i}",
            status="ok",
            source="api",
            account_id=f"{platform}-{i}",
            followers=100 + i,
        )
        for i in range(count)
    ]


def _land(layout: WarehouseLayout, run_id: str, count: int, platform: str = "x") -> None:
    lake = delta_lake_of(layout)
    landing = Landing(lake, platform, run_id, RUN_AT)
    landing.add(_rows(run_id, count, platform))
    landing.commit()
    record = RunRecord(run_id, platform, RUN_AT, RUN_AT, 1, None, {"ok": count}, "api")
    write_run_record(lake, record)


class _Commits:
    """Every commit of both tables in the order they were made (file times are too coarse
    to order two commits a few milliseconds apart)."""

    def __init__(self, layout: WarehouseLayout) -> None:
        self.lake = delta_lake_of(layout)
        self.made: list[tuple[DeltaDataset, int]] = []

    def note(self, dataset: DeltaDataset) -> None:
        """Add the dataset's versions made since the last note."""
        latest = self.lake.snapshot(dataset).version
        seen = [version for kept, version in self.made if kept == dataset]
        start = max(seen) + 1 if seen else 0
        end = 0 if latest is None else latest + 1
        self.made.extend((dataset, version) for version in range(start, end))


def build_history(root: Path) -> History:
    """A warehouse published over an imported lake of 2 rows (its marts: HP at 5 then 7),
    migrated (observations version 0), then two snapshot runs landed in the Delta tables and
    the second run re-landed with fewer rows; every commit dated `FIRST` + i hours."""
    (root / "watchlist.yaml").write_text("brands:\n  HP:\n    x: [HP]\n")
    (root / "h.csv").write_text(
        "observed_at,platform,handle,followers\n2026-01-01,x,HP,5\n2026-01-02,x,HP,7\n"
    )
    layout = WarehouseLayout.at(root / "warehouse")
    run_id, rows = read_history(root / "h.csv")
    write_import(old_lake(layout), run_id, rows)  # the old layout, then migrated
    migrate(layout)
    refresh(layout, load_watchlist(root / "watchlist.yaml"))
    commits = _Commits(layout)
    commits.note(OBSERVATIONS)
    for run_id, count, platform in (("run-1", 3, "x"), ("run-2", 5, "x"), ("run-2", 2, "y")):
        _land(layout, run_id, count, platform)
        commits.note(OBSERVATIONS)
        commits.note(RUN_LOG)
    _land(layout, "run-2", 1, "x")  # the re-run of x replaces its 5 rows
    commits.note(OBSERVATIONS)
    commits.note(RUN_LOG)
    committed: dict[str, dict[int, datetime]] = {OBSERVATIONS.name: {}, RUN_LOG.name: {}}
    for index, (dataset, version) in enumerate(commits.made):
        moment = FIRST + timedelta(hours=index)
        path = Path(commits.lake.table_uri(dataset), "_delta_log", f"{version:020d}.json")
        os.utime(path, (moment.timestamp(), moment.timestamp()))
        committed[dataset.name][version] = moment
    return History(layout.warehouse, layout, committed)
