"""CSV import: validated whole, reported by line, idempotent, provenance kept, landed in the
observations Delta table in one commit (real Delta tables, real DuckDB)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable
from moto.server import ThreadedMotoServer

from followerledger import pause, stopping
from followerledger.cli import main
from followerledger.delta_lake import OBSERVATIONS, S3_OPTIONS, delta_lake_of
from followerledger.delta_writer import replace_run
from followerledger.history_import import ImportFileError, import_history, parse_moment
from followerledger.layout import WarehouseLayout
from followerledger.observation import Observation, to_table
from followerledger.refresh import refresh
from followerledger.watchlist import load_watchlist
from tests.conftest import FakeClock
from tests.tiny import query

REPO = Path(__file__).resolve().parents[1]


def csv_file(tmp_path: Path, text: str, name: str = "history.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def layout_at(tmp_path: Path) -> WarehouseLayout:
    return WarehouseLayout.at(tmp_path / "warehouse")


def version(layout: WarehouseLayout) -> int | None:
    """The observations table's latest version (None: no table)."""
    return delta_lake_of(layout).snapshot(OBSERVATIONS).version


def table_rows(layout: WarehouseLayout) -> list[dict[str, Any]]:
    """Every row of the observations table's latest version, as an outside reader sees it."""
    lake = delta_lake_of(layout)
    if lake.snapshot(OBSERVATIONS).version is None:
        return []
    rows = DeltaTable(lake.table_uri(OBSERVATIONS)).to_pyarrow_table().to_pylist()
    return sorted(
        rows,
        key=lambda row: (row["observed_at"], row["platform"], row["handle"], row["followers"]),
    )


def partitions(layout: WarehouseLayout) -> list[tuple[str, date]]:
    """(platform, day) of every data file the latest version names, sorted."""
    return sorted((f.platform, f.day) for f in delta_lake_of(layout).snapshot(OBSERVATIONS).files)


def data_files(layout: WarehouseLayout) -> list[str]:
    """Every data file on disk under the observations table (its log aside)."""
    folder = layout.lake_dataset(OBSERVATIONS.name)
    return sorted(str(path) for path in folder.rglob("*.parquet") if "_delta_log" not in path.parts)


def test_shipped_dell_2008_file(tmp_path: Path, fake_clock: FakeClock) -> None:
    layout = layout_at(tmp_path)
    report = import_history(REPO / "examples/dell-2008.csv", layout, clock=fake_clock)
    assert report.rows == 3
    got = {
        (r["handle"], r["followers"], r["observed_at"], r["source"], r["status"], r["date"])
        for r in table_rows(layout)
    }
    moment = datetime(2008, 7, 1, tzinfo=UTC)
    assert got == {
        ("DellOutlet", 1516, moment, "import", "ok", moment.date()),
        ("DellSmBizOffers", 151, moment, "import", "ok", moment.date()),
        ("DellChannel", 71, moment, "import", "ok", moment.date()),
    }
    assert report.partitions == (("x", moment.date()),)
    assert partitions(layout) == [("x", moment.date())]
    snapshot = delta_lake_of(layout).snapshot(OBSERVATIONS)
    assert report.version == snapshot.version
    assert snapshot.rows == report.rows


def test_optional_columns_dates_and_partitions(tmp_path: Path, fake_clock: FakeClock) -> None:
    path = csv_file(
        tmp_path,
        (
            "observed_at,platform,handle,followers,following,posts,account_id,display_name\n"
            "2026-01-01,x,DellOutlet,10,,5,123,Dell Outlet\n"
            "2026-01-01T23:30:00-02:00,bluesky,dell.com,20,3,,,\n"
            "2026-01-02T08:00:00Z,x,DellOutlet,11,1,6,123,\n"
        ),
    )
    layout = layout_at(tmp_path)
    report = import_history(path, layout, clock=fake_clock)
    rows = table_rows(layout)
    assert [
        (
            r["observed_at"],
            r["platform"],
            r["followers"],
            r["following"],
            r["posts"],
            r["account_id"],
            r["display_name"],
        )
        for r in rows
    ] == [
        (datetime(2026, 1, 1, tzinfo=UTC), "x", 10, None, 5, "123", "Dell Outlet"),
        (datetime(2026, 1, 2, 1, 30, tzinfo=UTC), "bluesky", 20, 3, None, None, None),
        (datetime(2026, 1, 2, 8, 0, tzinfo=UTC), "x", 11, 1, 6, "123", None),
    ]
    assert {r["detail"] for r in rows} == {"imported from history.csv"}
    assert {r["run_id"] for r in rows} == {report.run_id}
    # The partition date is the UTC day of observed_at (23:30 at -02:00 is the next UTC day).
    assert [r["date"] for r in rows] == [r["observed_at"].date() for r in rows]
    expected = [
        ("bluesky", date(2026, 1, 2)),
        ("x", date(2026, 1, 1)),
        ("x", date(2026, 1, 2)),
    ]
    assert partitions(layout) == expected
    assert list(report.partitions) == expected


def test_an_import_spanning_several_days_lands_one_partition_per_day(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    days = [date(2026, 1, day) for day in range(1, 8)]
    body = "".join(
        f"{day.isoformat()}T{hour:02d}:00:00Z,x,HP,{100 * day.day + hour}\n"
        for day in days
        for hour in (0, 12, 23)
    )
    layout = layout_at(tmp_path)
    report = import_history(csv_file(tmp_path, HEADER + body), layout, clock=fake_clock)
    files = delta_lake_of(layout).snapshot(OBSERVATIONS).files
    assert sorted((f.platform, f.day) for f in files) == [("x", day) for day in days]
    assert {f.day: f.rows for f in files} == dict.fromkeys(days, 3)
    assert all(f.key.startswith(f"observations/platform=x/date={f.day}/") for f in files)
    assert report.rows == sum(f.rows for f in files) == len(table_rows(layout))
    # One commit for all seven partitions: the table's creation, then the import.
    history = DeltaTable(delta_lake_of(layout).table_uri(OBSERVATIONS)).history()
    assert [entry["operation"] for entry in history] == ["WRITE", "CREATE TABLE"]


def land_snapshot_row(layout: WarehouseLayout, platform: str, handle: str, **fields: Any) -> None:
    """A snapshot run's row in the observations table, as the snapshot flow lands it."""
    moment = fields.pop("observed_at", datetime(2026, 1, 1, 9, tzinfo=UTC))
    row = Observation(
        run_id=fields.pop("run_id", "run-1"),
        observed_at=moment,
        platform=platform,
        handle=handle,
        status="ok",
        source="api",
        followers=fields.pop("followers", 10),
        requested_handle=handle,
        **fields,
    )
    replace_run(
        delta_lake_of(layout), OBSERVATIONS, platform, row.run_id, moment.date(), to_table([row])
    )


def test_importing_the_same_file_again_replaces_exactly_its_rows(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    layout = layout_at(tmp_path)
    # A snapshot's row in a partition the import also lands in: never touched by it.
    land_snapshot_row(layout, "x", "HP", followers=99)
    path = csv_file(
        tmp_path, HEADER + "2026-01-01,x,HP,5\n2026-01-02,x,HP,6\n2026-01-01,bluesky,hp.com,7\n"
    )
    first = import_history(path, layout, clock=fake_clock)
    rows_after_first = table_rows(layout)
    files_after_first = partitions(layout)
    second = import_history(path, layout, clock=fake_clock)
    assert first.run_id == second.run_id
    assert second.version == first.version + 1 == version(layout)
    assert table_rows(layout) == rows_after_first
    assert partitions(layout) == files_after_first
    assert Counter(r["run_id"] for r in table_rows(layout)) == {first.run_id: 3, "run-1": 1}


def test_two_different_files_are_both_kept(tmp_path: Path, fake_clock: FakeClock) -> None:
    layout = layout_at(tmp_path)
    early = csv_file(tmp_path, HEADER + "2026-01-01,x,HP,5\n2026-01-02,x,HP,6\n", "early.csv")
    late = csv_file(tmp_path, HEADER + "2026-01-02,x,HP,7\n2026-01-03,x,HP,8\n", "late.csv")
    first = import_history(early, layout, clock=fake_clock)
    second = import_history(late, layout, clock=fake_clock)
    assert first.run_id != second.run_id
    assert second.version == first.version + 1
    assert [(r["run_id"], r["followers"]) for r in table_rows(layout)] == [
        (first.run_id, 5),
        (first.run_id, 6),
        (second.run_id, 7),
        (second.run_id, 8),
    ]
    # Importing the first again replaces only its own rows.
    import_history(early, layout, clock=fake_clock)
    assert Counter(r["run_id"] for r in table_rows(layout)) == {first.run_id: 2, second.run_id: 2}


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        ("observed_at,platform,handle\n", 1, "missing column(s) followers"),
        ("observed_at,platform,handle,followers,likes\n", 1, "unknown column(s) likes"),
        (
            "observed_at,platform,handle,followers\n2026-01-01,x,HP,5\nyesterday,x,HP,6\n",
            3,
            "observed_at 'yesterday' is not an ISO-8601 date",
        ),
        (
            "observed_at,platform,handle,followers\n2026-01-01,myspace,HP,5\n",
            2,
            "unknown platform 'myspace'",
        ),
        (
            "observed_at,platform,handle,followers\n2026-01-01,x,H-P!,5\n",
            2,
            "invalid x handle 'H-P!'",
        ),
        (
            "observed_at,platform,handle,followers\n2026-01-01,x,HP,N/A\n",
            2,
            "followers 'N/A' is not a whole number",
        ),
        ("observed_at,platform,handle,followers\n2026-01-01,x,HP,\n", 2, "followers is empty"),
        (
            "observed_at,platform,handle,followers\n2026-01-01,x,HP,-4\n",
            2,
            "followers '-4' is not a whole number",
        ),
        (
            "observed_at,platform,handle,followers\n2026-01-01,x,HP,4,extra\n",
            2,
            "more fields than the header",
        ),
        (
            "observed_at,platform,handle,followers\n2030-01-01,x,HP,4\n",
            2,
            "observed_at '2030-01-01' is in the future",
        ),
    ],
)
def test_a_bad_row_is_reported_by_line_and_nothing_lands(
    tmp_path: Path, fake_clock: FakeClock, body: str, line: int, reason: str
) -> None:
    path = csv_file(tmp_path, body)
    layout = layout_at(tmp_path)
    with pytest.raises(ImportFileError) as caught:
        import_history(path, layout, clock=fake_clock)
    assert str(caught.value).startswith(f"{path}:{line}: {reason}")
    assert "\n" not in str(caught.value)
    # Not even an empty table: a bad file is refused before the lake is opened.
    assert version(layout) is None
    assert not layout.lake_dataset(OBSERVATIONS.name).exists()


def test_a_bad_file_leaves_an_existing_table_at_its_version(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    layout = layout_at(tmp_path)
    import_history(csv_file(tmp_path, HEADER + "2026-01-01,x,HP,5\n", "good.csv"), layout)
    before, rows = version(layout), table_rows(layout)
    bad = csv_file(tmp_path, HEADER + "2026-01-02,x,HP,6\n2026-01-03,x,HP,lots\n", "bad.csv")
    with pytest.raises(ImportFileError, match=rf"^{bad}:3: followers 'lots' is not a whole"):
        import_history(bad, layout, clock=fake_clock)
    assert version(layout) == before
    assert table_rows(layout) == rows


def test_parse_moment() -> None:
    assert parse_moment("2008-07-01") == datetime(2008, 7, 1, tzinfo=UTC)
    assert parse_moment("2008-07-01T10:00:00") == datetime(2008, 7, 1, 10, tzinfo=UTC)
    assert parse_moment("2008-07-01T10:00:00+02:00") == datetime(2008, 7, 1, 8, tzinfo=UTC)


def test_cli_import_reports_the_line_and_keeps_what_was_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(tmp_path / "missing.yaml"))
    layout = layout_at(tmp_path)
    good = csv_file(
        tmp_path, "observed_at,platform,handle,followers\n2026-01-01,x,HP,5\n", "good.csv"
    )
    bad = csv_file(
        tmp_path,
        "observed_at,platform,handle,followers\n2026-01-02,x,HP,6\n2026-01-03,x,HP,lots\n",
        "bad.csv",
    )
    runner = CliRunner()
    ok = runner.invoke(main, ["import", str(good)])
    assert ok.exit_code == 0, ok.output
    run_id = table_rows(layout)[0]["run_id"]
    assert (
        f"imported 1 rows from {good} as {run_id} "
        f"(1 partitions, observations table version {version(layout)})"
    ) in ok.output
    failed = runner.invoke(main, ["import", str(bad)])
    assert failed.exit_code == 2
    assert failed.output.strip() == (
        f"followerledger: error: {bad}:3: followers 'lots' is not a whole number of 0 or more"
    )
    assert [(r["followers"], r["observed_at"].day) for r in table_rows(layout)] == [(5, 1)]
    assert (tmp_path / "warehouse/followerledger.duckdb").exists()


def test_cli_import_into_an_unmigrated_lake_is_one_line_and_lands_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(tmp_path / "missing.yaml"))
    layout = layout_at(tmp_path)
    # A run file of the old layout, and no Delta table: the lake needs `migrate` first.
    old = layout.lake_dataset(OBSERVATIONS.name) / "platform=x/date=2026-01-01/run-1.parquet"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"PAR1")
    path = csv_file(tmp_path, HEADER + "2026-01-01,x,HP,5\n")
    result = CliRunner().invoke(main, ["import", str(path)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("followerledger: error: ")
    assert lines[0].endswith("run `followerledger migrate` first")
    assert sorted(p.name for p in layout.lake_dataset(OBSERVATIONS.name).rglob("*")) == [
        "date=2026-01-01",
        "platform=x",
        "run-1.parquet",
    ]


HEADER = "observed_at,platform,handle,followers\n"


def test_every_bad_row_is_reported_in_one_pass(tmp_path: Path, fake_clock: FakeClock) -> None:
    path = csv_file(
        tmp_path,
        HEADER + "2026-01-01,x,HP,5\nyesterday,x,HP,6\n2026-01-02,myspace,HP,7\n"
        "2026-01-03,x,HP,8\n2026-01-04,x,HP,lots\n",
    )
    layout = layout_at(tmp_path)
    with pytest.raises(ImportFileError) as caught:
        import_history(path, layout, clock=fake_clock)
    lines = str(caught.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [f"{path}:3", f"{path}:4", f"{path}:6"]
    assert "observed_at 'yesterday'" in lines[0]
    assert "unknown platform 'myspace'" in lines[1]
    assert "followers 'lots'" in lines[2]
    assert version(layout) is None


def test_bad_rows_beyond_the_cap_are_counted(tmp_path: Path, fake_clock: FakeClock) -> None:
    path = csv_file(tmp_path, HEADER + "".join(f"2026-01-01,x,HP,n{i}\n" for i in range(25)))
    layout = layout_at(tmp_path)
    with pytest.raises(ImportFileError) as caught:
        import_history(path, layout, clock=fake_clock)
    lines = str(caught.value).splitlines()
    assert len(lines) == 21
    assert lines[19].startswith(f"{path}:21: followers 'n19'")
    assert lines[20] == f"{path}: … and 5 more bad rows (25 in all); nothing was imported"
    assert version(layout) is None


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_semicolon_csv_from_excel_with_a_bom(
    tmp_path: Path, fake_clock: FakeClock, newline: str
) -> None:
    path = tmp_path / "excel.csv"
    text = newline.join(
        [
            "observed_at;platform;handle;followers;display_name",
            '2026-01-01;x;DellOutlet;1516;"Dell; Outlet"',
            "2026-01-02;x;DellOutlet;1600;",
            "",
        ]
    )
    path.write_bytes(text.encode("utf-8-sig"))
    layout = layout_at(tmp_path)
    report = import_history(path, layout, clock=fake_clock)
    assert report.rows == 2
    assert [(r["followers"], r["display_name"]) for r in table_rows(layout)] == [
        (1516, "Dell; Outlet"),
        (1600, None),
    ]


def test_semicolon_csv_bad_rows_name_their_lines(tmp_path: Path, fake_clock: FakeClock) -> None:
    path = csv_file(tmp_path, "observed_at;platform;handle;followers\n2026-01-01;x;HP;5,5\n")
    with pytest.raises(ImportFileError, match=r":2: followers '5,5' is not a whole number"):
        import_history(path, layout_at(tmp_path), clock=fake_clock)


def test_handles_are_read_as_the_watchlist_reads_them(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    path = csv_file(
        tmp_path,
        HEADER + "2026-01-01,x,@DellOutlet,1\n2026-01-02,x,https://x.com/DellOutlet?s=20,2\n"
        "2026-01-03,youtube,Dell,3\n2026-01-04,mastodon,https://mastodon.social/@dell,4\n",
    )
    layout = layout_at(tmp_path)
    import_history(path, layout, clock=fake_clock)
    assert [(r["handle"], r["requested_handle"]) for r in table_rows(layout)] == [
        ("DellOutlet", "DellOutlet"),
        ("DellOutlet", "DellOutlet"),
        ("@Dell", "@Dell"),
        ("dell@mastodon.social", "dell@mastodon.social"),
    ]


def test_rows_for_unwatched_handles_are_imported_and_counted(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    watchlist_path = tmp_path / "watchlist.yaml"
    watchlist_path.write_text("brands:\n  Dell:\n    x: [DellOutlet]\n", encoding="utf-8")
    path = csv_file(
        tmp_path,
        HEADER + "2026-01-01,x,delloutlet,1\n2026-01-01,x,Nobody,2\n2026-01-02,x,Nobody,3\n"
        "2026-01-01,bluesky,dell.com,4\n",
    )
    layout = layout_at(tmp_path)
    report = import_history(
        path, layout, clock=fake_clock, watchlist=load_watchlist(watchlist_path)
    )
    assert report.rows == 4
    assert len(table_rows(layout)) == 4
    assert report.unwatched == (("x", "Nobody", 2), ("bluesky", "dell.com", 1))


def test_cli_import_warns_about_unwatched_rows_and_tolerates_a_broken_watchlist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path / "warehouse"))
    watchlist_path = tmp_path / "watchlist.yaml"
    watchlist_path.write_text("brands:\n  Dell:\n    x: [DellOutlet]\n", encoding="utf-8")
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(watchlist_path))
    path = csv_file(
        tmp_path,
        HEADER + "2026-01-01,x,DellOutlet,1\n2026-01-01,x,Nobody,2\n2026-01-02,x,Nobody,3\n",
    )
    runner = CliRunner()
    result = runner.invoke(main, ["import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 3 rows" in result.output
    assert (
        "followerledger: warning: 2 of 3 rows are for 1 handle the watchlist does not list, "
        "without an account id a watched handle resolved to (imported anyway): x Nobody (2 rows)"
    ) in result.output
    watchlist_path.write_text("brands: [broken\n", encoding="utf-8")
    again = runner.invoke(main, ["import", str(path)])
    assert again.exit_code == 0, again.output
    assert "imported 3 rows" in again.output
    assert "warning" not in again.output
    assert len(table_rows(layout_at(tmp_path))) == 3


def test_rows_under_an_old_handle_with_a_watched_id_are_not_unwatched(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    watchlist_path = tmp_path / "watchlist.yaml"
    watchlist_path.write_text("brands:\n  Dell:\n    x: [DellOutlet]\n", encoding="utf-8")
    layout = layout_at(tmp_path)
    land_snapshot_row(layout, "x", "DellOutlet", account_id="42")
    path = csv_file(
        tmp_path,
        "observed_at,platform,handle,followers,account_id\n"
        "2008-07-01,x,OldDell,1,42\n"
        "2008-07-01,x,Nobody,2,\n"
        "2008-07-01,x,Stranger,3,99\n"
        "2008-07-01,bluesky,old.dell.com,4,42\n",
    )
    report = import_history(
        path, layout, clock=fake_clock, watchlist=load_watchlist(watchlist_path)
    )
    assert report.rows == 4
    # The id is watched on x only: the same id on another platform is another account.
    assert report.unwatched == (
        ("x", "Nobody", 1),
        ("x", "Stranger", 1),
        ("bluesky", "old.dell.com", 1),
    )


def test_the_file_itself_can_tell_which_id_a_watched_handle_has(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    watchlist_path = tmp_path / "watchlist.yaml"
    watchlist_path.write_text("brands:\n  Dell:\n    x: [DellOutlet]\n", encoding="utf-8")
    path = csv_file(
        tmp_path,
        "observed_at,platform,handle,followers,account_id\n"
        "2008-07-01,x,OldDell,1,42\n"
        "2009-07-01,x,DellOutlet,2,42\n",
    )
    report = import_history(
        path, layout_at(tmp_path), clock=fake_clock, watchlist=load_watchlist(watchlist_path)
    )
    assert report.unwatched == ()


def test_cli_import_does_not_warn_about_a_renamed_watched_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path / "warehouse"))
    watchlist_path = tmp_path / "watchlist.yaml"
    watchlist_path.write_text("brands:\n  Dell:\n    x: [DellOutlet]\n", encoding="utf-8")
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(watchlist_path))
    land_snapshot_row(layout_at(tmp_path), "x", "DellOutlet", account_id="42")
    path = csv_file(
        tmp_path, "observed_at,platform,handle,followers,account_id\n2008-07-01,x,OldDell,1,42\n"
    )
    result = CliRunner().invoke(main, ["import", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 1 rows" in result.output
    assert "warning" not in result.output


@pytest.mark.parametrize("kind", ["directory", "binary"])
def test_cli_import_of_an_unreadable_file_is_one_line_and_lands_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(tmp_path / "missing.yaml"))
    layout = layout_at(tmp_path)
    runner = CliRunner()
    good = csv_file(tmp_path, HEADER + "2026-01-01,x,HP,5\n", "good.csv")
    assert runner.invoke(main, ["import", str(good)]).exit_code == 0
    landed = version(layout)
    bad = tmp_path / "history.csv"
    if kind == "directory":
        bad.mkdir()
        reason = "cannot be read (Is a directory): give the path of a readable CSV file"
    else:
        bad.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x00")
        reason = (
            "is not UTF-8 text (invalid start byte at byte 0): "
            "save it as CSV UTF-8 and import it again"
        )
    result = runner.invoke(main, ["import", str(bad)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip() == f"followerledger: error: {bad}: {reason}"
    assert "Traceback" not in result.output
    assert version(layout) == landed
    assert [(r["handle"], r["followers"]) for r in table_rows(layout)] == [("HP", 5)]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (
            "2026-01-03,x,HP,9223372036854775808",
            "followers 9223372036854775808 is more than any account has (at most 10000000000)",
        ),
        (
            "2026-01-03,x,HP,10000000001",
            "followers 10000000001 is more than any account has (at most 10000000000)",
        ),
        ("2026-01-03,x,HP,١٢٣", "followers '١٢٣' is not a whole number of 0 or more"),
        (
            "9999-12-31T23:59:59-01:00,x,HP,5",
            "observed_at '9999-12-31T23:59:59-01:00' is outside the calendar once converted to UTC",
        ),
        (
            "0001-01-01,x,HP,5",
            "observed_at '0001-01-01' is before 2000-01-01 (UTC), older than any platform",
        ),
        (
            "2026-01-03,x,HP,5," + "7" * 1025,
            "account_id is 1025 characters long: at most 1024",
        ),
        (
            "2026-01-03,x,HP,5,," + "D" * 200_000,
            "a field is over the CSV reader's limit (field larger than field limit (131072)): "
            "text fields hold at most 1024 characters",
        ),
    ],
)
def test_a_value_that_cannot_be_stored_is_a_bad_row_and_nothing_lands(
    tmp_path: Path, fake_clock: FakeClock, row: str, reason: str
) -> None:
    # The good rows around it are for other days: each would be a partition of its own.
    path = csv_file(
        tmp_path,
        "observed_at,platform,handle,followers,account_id,display_name\n"
        f"2026-01-01,x,HP,5,,\n{row}\n2026-01-05,bluesky,hp.com,7,,\n",
    )
    layout = layout_at(tmp_path)
    with pytest.raises(ImportFileError) as caught:
        import_history(path, layout, clock=fake_clock)
    assert str(caught.value) == f"{path}:3: {reason}"
    assert version(layout) is None
    assert list(tmp_path.rglob("*.parquet*")) == []


#: Runs an import of argv[1] into the warehouse argv[2], in a child the test SIGKILLs at a
#: pause point (`pause.point("import-write")`: a partition's rows streamed, not committed).
KILLED_IMPORT = """
import sys
from pathlib import Path
from followerledger.history_import import import_history
from followerledger.layout import WarehouseLayout
import_history(Path(sys.argv[1]), WarehouseLayout.at(Path(sys.argv[2])))
"""

#: Three days on two platforms: four partitions, landed (if ever) in one commit.
SPREAD = HEADER + (
    "2026-01-01,x,HP,5\n2026-01-02,x,HP,6\n2026-01-02,bluesky,hp.com,7\n2026-01-03,x,HP,8\n"
)


def import_killed_at(path: Path, layout: WarehouseLayout, point: str, tmp_path: Path) -> None:
    """Import `path` in a child, and SIGKILL it once it pauses at `point`; while it waits
    there, the table shows nothing of it (checked here: version and rows as they were)."""
    before, rows = version(layout), table_rows(layout)
    signal_file = tmp_path / "paused"
    signal_file.unlink(missing_ok=True)
    environment = {**os.environ, pause.PAUSE_AT: point, pause.PAUSE_SIGNAL: str(signal_file)}
    script = [sys.executable, "-c", KILLED_IMPORT, str(path), str(layout.warehouse)]
    with subprocess.Popen(script, env=environment, cwd=REPO, stderr=subprocess.PIPE) as child:
        deadline = time.monotonic() + 60
        while not signal_file.exists():
            if child.poll() is not None:
                assert child.stderr is not None
                pytest.fail(f"the import ended before {point}: {child.stderr.read()!r}")
            assert time.monotonic() < deadline, f"the import never reached {point}"
            time.sleep(0.05)
        # Paused inside the write: nothing of it is visible yet.
        # (A new lake's table is created, empty, as version 0 before the write begins.)
        assert version(layout) == (0 if before is None else before)
        assert table_rows(layout) == rows
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL


# @1: the first partition streamed; @4: the last one, the stream not yet ended.
@pytest.mark.parametrize("point", ["import-write", "import-write@2", "import-write@4"])
def test_an_import_killed_mid_commit_leaves_the_table_as_it_was(tmp_path: Path, point: str) -> None:
    layout = layout_at(tmp_path)
    earlier = import_history(
        csv_file(tmp_path, HEADER + "2026-01-02,x,HP,1\n", "early.csv"), layout
    )
    rows = table_rows(layout)
    path = csv_file(tmp_path, SPREAD)
    import_killed_at(path, layout, point, tmp_path)
    assert version(layout) == earlier.version
    assert table_rows(layout) == rows
    # The next import of the file lands all of it, once.
    report = import_history(path, layout)
    assert report.version == earlier.version + 1
    assert [(r["platform"], r["followers"]) for r in table_rows(layout)] == [
        ("x", 5),
        ("bluesky", 7),
        ("x", 1),
        ("x", 6),
        ("x", 8),
    ]
    # Whatever the dead writer left on disk no version names: a full vacuum removes it.
    lake = delta_lake_of(layout)
    lake.vacuum(OBSERVATIONS, retention_hours=0)
    assert data_files(layout) == sorted(f.path for f in lake.snapshot(OBSERVATIONS).files)


def test_an_import_killed_into_a_new_lake_leaves_an_empty_table(tmp_path: Path) -> None:
    layout = layout_at(tmp_path)
    import_killed_at(csv_file(tmp_path, SPREAD), layout, "import-write@3", tmp_path)
    # The table was created (its own commit) before the import's write began; no rows.
    assert version(layout) == 0
    assert table_rows(layout) == []
    assert delta_lake_of(layout).snapshot(OBSERVATIONS).files == ()


def test_a_killed_re_import_keeps_the_rows_the_first_import_landed(tmp_path: Path) -> None:
    layout = layout_at(tmp_path)
    path = csv_file(tmp_path, SPREAD)
    first = import_history(path, layout)
    rows, files = table_rows(layout), partitions(layout)
    import_killed_at(path, layout, "import-write@2", tmp_path)
    assert version(layout) == first.version
    assert table_rows(layout) == rows
    assert partitions(layout) == files
    assert [r["followers"] for r in rows] == [5, 7, 6, 8]


def test_a_refresh_after_a_killed_import_shows_none_of_it(tmp_path: Path) -> None:
    layout = layout_at(tmp_path)
    path = csv_file(tmp_path, SPREAD)
    import_killed_at(path, layout, "import-write@3", tmp_path)
    refresh(layout, None)
    assert query(layout.warehouse, "select count(*) from observations") == [(0,)]
    # Imported twice: the first import's files, replaced, stay on disk until a vacuum; only
    # the table's current files may be read.
    import_history(path, layout)
    import_history(path, layout)
    refresh(layout, None)
    assert query(layout.warehouse, "select sum(followers) from observations") == [(26,)]


def test_cli_import_of_a_count_beyond_int64_is_one_line_and_lands_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(tmp_path / "missing.yaml"))
    path = csv_file(tmp_path, HEADER + "2026-01-01,x,HP,5\n2026-01-02,x,HP,9223372036854775808\n")
    result = CliRunner().invoke(main, ["import", str(path)])
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"followerledger: error: {path}:3: followers 9223372036854775808 is more than any "
        "account has (at most 10000000000)"
    )
    assert version(layout_at(tmp_path)) is None


@pytest.fixture
def s3_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WarehouseLayout]:
    """A warehouse whose lake is a new bucket of a moto S3 server on 127.0.0.1, configured by
    the standard AWS variables only."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "AKIATESTKEY000000001",
            "AWS_SECRET_ACCESS_KEY": "test-secret-never-shown",
            "AWS_REGION": "eu-west-1",
            "AWS_ALLOW_HTTP": "true",
        }.items():
            monkeypatch.setenv(name, value)
        store = pafs.S3FileSystem(
            endpoint_override=endpoint, region="eu-west-1", allow_bucket_creation=True
        )
        store.create_dir("import-test")
        yield WarehouseLayout.at(tmp_path / "warehouse", "s3://import-test/lake")
    finally:
        server.stop()


def test_an_import_into_an_s3_lake_lands_and_replaces_in_one_commit(
    s3_layout: WarehouseLayout, tmp_path: Path, fake_clock: FakeClock
) -> None:
    path = csv_file(tmp_path, SPREAD)
    lake = delta_lake_of(s3_layout)
    first = import_history(path, s3_layout, clock=fake_clock)
    again = import_history(path, s3_layout, clock=fake_clock)
    assert again.version == first.version + 1
    snapshot = lake.snapshot(OBSERVATIONS)
    assert (snapshot.version, snapshot.rows) == (again.version, 4)
    assert sorted((f.platform, f.day) for f in snapshot.files) == list(again.partitions)
    assert all(
        f.path.startswith(f"s3://import-test/lake/observations/platform={f.platform}/date={f.day}/")
        for f in snapshot.files
    )
    held = DeltaTable(lake.table_uri(OBSERVATIONS), storage_options=S3_OPTIONS)
    assert sorted(held.to_pyarrow_table().column("followers").to_pylist()) == [5, 6, 7, 8]
    bad = csv_file(tmp_path, HEADER + "2026-01-04,x,HP,many\n", "bad.csv")
    with pytest.raises(ImportFileError) as caught:
        import_history(bad, s3_layout, clock=fake_clock)
    assert "test-secret-never-shown" not in str(caught.value)
    assert lake.snapshot(OBSERVATIONS).version == again.version


def test_cli_import_into_an_unreachable_lake_is_one_line_without_secrets(
    s3_layout: WarehouseLayout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(s3_layout.warehouse))
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(tmp_path / "missing.yaml"))
    # A bucket the server does not have: every request fails.
    monkeypatch.setenv("FOLLOWERLEDGER_LAKE", "s3://no-such-bucket/lake")
    path = csv_file(tmp_path, SPREAD)
    result = CliRunner().invoke(main, ["import", str(path)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.output.strip() == (
        "followerledger: error: observations: cannot read the lake s3://no-such-bucket/lake: "
        "no such bucket; check the bucket in FOLLOWERLEDGER_LAKE"
    )
    for secret in ("test-secret-never-shown", "AKIATESTKEY000000001"):
        assert secret not in result.output


def test_a_stop_during_the_write_commits_nothing_and_raises_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = layout_at(tmp_path)
    early = import_history(csv_file(tmp_path, HEADER + "2026-01-02,x,HP,1\n", "early.csv"), layout)
    rows = table_rows(layout)
    paused = tmp_path / "paused"
    monkeypatch.setenv(pause.PAUSE_AT, "import-write@2")
    monkeypatch.setenv(pause.PAUSE_SIGNAL, str(paused))

    ended = threading.Event()

    def stop_once_paused() -> None:
        # What a flow's `stop_on` does when a signal reaches it: set the stop event.
        while not paused.exists():
            if ended.wait(0.02):
                return
        stopping.STOP.set()

    stopper = threading.Thread(target=stop_once_paused, daemon=True)
    stopper.start()
    try:
        with pytest.raises(stopping.Stopped):
            import_history(csv_file(tmp_path, SPREAD), layout)
    finally:
        ended.set()
        stopper.join()
        stopping.STOP.clear()
    assert version(layout) == early.version
    assert table_rows(layout) == rows


def test_two_different_imports_writing_at_once_both_land_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = layout_at(tmp_path)
    import_history(csv_file(tmp_path, HEADER + "2025-12-31,x,HP,1\n", "first.csv"), layout)
    # The same four partitions, two files: each import's stream holds after its first
    # partition until the other's does too, so both write from the same version.
    both = threading.Barrier(2, timeout=60)
    monkeypatch.setattr(
        pause, "point", lambda name: both.wait() if name == "import-write" else None
    )
    late = SPREAD.replace(",5\n", ",50\n").replace(",6\n", ",60\n")
    paths = [csv_file(tmp_path, SPREAD, "a.csv"), csv_file(tmp_path, late, "b.csv")]
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run(path: Path) -> None:
        try:
            reports.append(import_history(path, layout))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(report.version for report in reports) == [2, 3]
    assert sorted(r["followers"] for r in table_rows(layout)) == [1, 5, 6, 7, 7, 8, 8, 50, 60]


def test_the_same_file_imported_twice_at_once_lands_once_and_the_loser_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layout = layout_at(tmp_path)
    both = threading.Barrier(2, timeout=60)
    monkeypatch.setattr(
        pause, "point", lambda name: both.wait() if name == "import-write" else None
    )
    path = csv_file(tmp_path, SPREAD)
    reports: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reports.append(import_history(path, layout))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [report.version for report in reports] == [version(layout)]
    assert [str(error) for error in errors] == [
        f"{path}: another writer changed this file's rows in the observations table at the "
        "same time (CommitFailedError); nothing of this import was committed: import the file "
        "again"
    ]
    assert sorted(r["followers"] for r in table_rows(layout)) == [5, 6, 7, 8]
