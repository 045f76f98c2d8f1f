"""Temporary files of killed runs are swept by the next run once they are old enough."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from followerledger.compaction import compact
from followerledger.delta_lake import DeltaLake
from followerledger.layout import WarehouseLayout
from followerledger.leftovers import TEMPORARY_AGE, is_temporary, sweep, temporary_name
from followerledger.refresh import refresh
from followerledger.watchlist import Watchlist
from tests.test_compaction import NOW, land_days, warehouse  # noqa: F401 (fixture)

OLD = time.time() - TEMPORARY_AGE.total_seconds() - 60


def plant(directory: Path, name: str, *, old: bool) -> Path:
    """A temporary file as a killed writer leaves it (old: untouched for over the safe age)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / temporary_name(name)
    path.write_bytes(b"PAR1 half a file")
    if old:
        os.utime(path, (OLD, OLD))
    return path


def test_sweep_removes_only_temporary_files_older_than_the_safe_age(tmp_path: Path) -> None:
    old = plant(tmp_path / "a" / "b", "run.parquet", old=True)
    wal = tmp_path / f"{temporary_name('followerledger.duckdb')}.wal"
    wal.write_bytes(b"wal")
    os.utime(wal, (OLD, OLD))
    young = plant(tmp_path / "a", "run.parquet", old=False)
    kept = [tmp_path / "a" / "run.parquet", tmp_path / ".hidden", tmp_path / "x.tmp-1"]
    for path in kept:
        path.write_bytes(b"data")
        os.utime(path, (OLD, OLD))

    assert sorted(sweep([tmp_path, tmp_path / "missing"])) == sorted([old, wal])

    assert young.exists()
    assert all(path.exists() for path in kept)
    assert not old.exists()
    assert not wal.exists()
    assert is_temporary(young.name)
    assert not is_temporary("run.parquet")


def test_refresh_and_compaction_sweep_what_killed_runs_left(
    warehouse: tuple[Path, DeltaLake, Watchlist],  # noqa: F811
) -> None:
    root, lake, watchlist = warehouse
    land_days(lake, NOW - timedelta(days=3), 2, 2)
    partition = Path(lake.root) / "observations" / "platform=x" / "date=2026-11-07"
    for run in (refresh, compact):
        planted = [
            plant(partition, "20261107T000000Z-run.parquet", old=True),
            plant(root / "marts" / "daily_followers" / "month=2026-11", "data-v.parquet", old=True),
            plant(root, "followerledger.duckdb", old=True),
            plant(root / "_state", "state.json", old=True),
        ]
        live = plant(partition, "20261107T120000Z-live.parquet", old=False)
        if run is refresh:
            refresh(WarehouseLayout.at(root, lake.root), watchlist, clock=lambda: NOW)
        else:
            compact(
                WarehouseLayout.at(root, lake.root),
                watchlist,
                grace=timedelta(hours=24),
                clock=lambda: NOW,
            )
        assert [path for path in planted if path.exists()] == [], run.__name__
        assert live.exists(), run.__name__
        live.unlink()
