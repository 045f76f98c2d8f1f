"""`lake.Lake`: atomic Parquet writes (the mart files, and the old lake layout `migrate`
reads), safe run ids. The Delta lake's landing is tested in tests/test_delta_lake.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from followerledger import lake as lake_module
from followerledger.lake import Lake, check_run_id, observation_key
from followerledger.layout import WarehouseLayout
from followerledger.observation import OBSERVATION_SCHEMA, Observation, to_table

AT = datetime(2026, 11, 26, 23, 59, tzinfo=UTC)


def rows(n: int, run_id: str = "run-1") -> list[Observation]:
    return [
        Observation(
            run_id=run_id,
            observed_at=AT,
            platform="x",
            handle=f"h{i}",
            status="ok",
            source="api",
            followers=i,
        )
        for i in range(n)
    ]


def write_observations(
    lake: Lake, platform: str, run_id: str, when: datetime, observations: list[Observation]
) -> lake_module.LakeFile:
    """One run's rows as one file at its key (how the old layout landed a run)."""
    return lake.write(observation_key(platform, when.date(), run_id), to_table(observations))


def test_write_lands_one_file_per_run_and_platform(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    written = write_observations(lake, "x", "run-1", AT, rows(3))
    assert written.key == "observations/platform=x/date=2026-11-26/run-1.parquet"
    assert (written.platform, written.day) == ("x", date(2026, 11, 26))
    table = pq.read_table(lake.path(written.key))
    assert table.schema.equals(OBSERVATION_SCHEMA, check_metadata=False)
    assert table.column("followers").to_pylist() == [0, 1, 2]
    assert [f.key for f in lake.list()] == [written.key]


def test_rewriting_a_run_id_replaces_only_its_own_file(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    write_observations(lake, "x", "run-1", AT, rows(3))
    write_observations(lake, "x", "run-2", AT, rows(2, "run-2"))
    write_observations(lake, "x", "run-1", AT, rows(5))
    files = {f.key.rsplit("/", 1)[1]: pq.read_table(lake.path(f.key)).num_rows for f in lake.list()}
    assert files == {"run-1.parquet": 5, "run-2.parquet": 2}


def test_a_write_failing_midway_leaves_no_visible_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(tmp_path / "lake")
    write_observations(lake, "x", "run-1", AT, rows(3))

    write_row_group = pq.ParquetWriter.write_table

    def half_written(self: Any, table: Any, *args: Any, **kwargs: Any) -> None:
        write_row_group(self, table.slice(0, 1))
        raise OSError("disk full")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", half_written)
    with pytest.raises(OSError, match="disk full"):
        write_observations(lake, "x", "run-2", AT, rows(3, "run-2"))
    with pytest.raises(OSError, match="disk full"):
        write_observations(lake, "x", "run-1", AT, rows(9))
    monkeypatch.undo()
    directory = tmp_path / "lake/observations/platform=x/date=2026-11-26"
    assert sorted(os.listdir(directory)) == ["run-1.parquet"]
    assert pq.read_table(directory / "run-1.parquet").num_rows == 3


def test_temporary_names_are_never_listed(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    directory = tmp_path / "lake/observations/platform=x/date=2026-11-26"
    directory.mkdir(parents=True)
    (directory / ".run-9.parquet.tmp-abc").write_bytes(b"partial")
    (directory / ".hidden.parquet").write_bytes(b"partial")
    assert lake.list() == []


@pytest.mark.parametrize("bad", ["", "../escape", "a/b", ".hidden", "x" * 200, "run id"])
def test_unsafe_run_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="run id"):
        check_run_id(bad)
    with pytest.raises(ValueError, match="run id"):
        observation_key("x", date(2026, 1, 1), bad)


def test_lake_root_accepts_a_file_uri(tmp_path: Path) -> None:
    lake = Lake(f"file://{tmp_path}/lake")
    written = write_observations(lake, "bluesky", "run-1", AT, rows(1))
    assert Path(lake.path(written.key)).exists()
    assert [f.key for f in Lake(tmp_path / "lake").list()] == [written.key]


@pytest.mark.parametrize(("chosen", "expected"), [(None, "system"), ("jemalloc", "jemalloc")])
def test_arrow_buffers_come_from_the_system_allocator_unless_chosen(
    chosen: str | None, expected: str
) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if chosen:
        environment["ARROW_DEFAULT_MEMORY_POOL"] = chosen
    probe = "import followerledger, pyarrow; print(pyarrow.default_memory_pool().backend_name)"
    done = subprocess.run(
        [sys.executable, "-c", probe], env=environment, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == expected


def key_on(day: int, name: str = "run-1") -> str:
    return observation_key("x", date(2026, 11, day), name)


def test_an_old_versions_dead_import_is_hidden_and_rolled_back(tmp_path: Path) -> None:
    # What an old version's import killed mid-commit left: a file renamed into place and the
    # pending marker naming it (its writer held the lock while the marker existed).
    lake = Lake(tmp_path / "lake")
    kept = lake.write(key_on(1, "run-0"), to_table(rows(1, "run-0")))
    lake.write(key_on(2, "import-1"), to_table(rows(2, "import-1")))
    pending = tmp_path / "lake" / "_pending"
    pending.mkdir()
    (pending / ".lock").touch()
    marker = pending / "0a1b.json"
    marker.write_text(json.dumps({"keys": [key_on(2, "import-1")], "temporaries": []}))

    assert lake.list() == [kept]
    lake.sweep_leftovers(WarehouseLayout.at(tmp_path / "warehouse", tmp_path / "lake"))

    assert lake.list() == [kept]
    assert not marker.exists()
    assert sorted(p.name for p in (tmp_path / "lake").rglob("*.parquet")) == ["run-0.parquet"]
