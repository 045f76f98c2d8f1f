"""CSV import: validated whole, reported by line, idempotent, provenance kept."""

from __future__ import annotations

import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from followerledger.cli import main
from followerledger.history_import import ImportFileError, import_history, parse_moment
from followerledger.lake import Lake, observation_key
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


def all_rows(lake: Lake) -> list[dict[str, Any]]:
    result = []
    for item in lake.list():
        result.extend(pq.read_table(lake.path(item.key)).to_pylist())
    return sorted(result, key=lambda row: (row["observed_at"], row["handle"]))


def test_shipped_dell_2008_file(tmp_path: Path, fake_clock: FakeClock) -> None:
    lake = Lake(tmp_path / "lake")
    report = import_history(REPO / "examples/dell-2008.csv", lake, clock=fake_clock)
    assert report.rows == 3
    got = {
        (r["handle"], r["followers"], r["observed_at"], r["source"], r["status"])
        for r in all_rows(lake)
    }
    moment = datetime(2008, 7, 1, tzinfo=UTC)
    assert got == {
        ("DellOutlet", 1516, moment, "import", "ok"),
        ("DellSmBizOffers", 151, moment, "import", "ok"),
        ("DellChannel", 71, moment, "import", "ok"),
    }
    assert [f.key for f in report.files] == [
        f"observations/platform=x/date=2008-07-01/{report.run_id}.parquet"
    ]


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
    lake = Lake(tmp_path / "lake")
    report = import_history(path, lake, clock=fake_clock)
    rows = all_rows(lake)
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
    assert sorted(f.key.split("/")[1:3] for f in report.files) == [
        ["platform=bluesky", "date=2026-01-02"],
        ["platform=x", "date=2026-01-01"],
        ["platform=x", "date=2026-01-02"],
    ]


def test_importing_the_same_file_twice_does_not_duplicate(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    path = csv_file(tmp_path, "observed_at,platform,handle,followers\n2026-01-01,x,HP,5\n")
    lake = Lake(tmp_path / "lake")
    first = import_history(path, lake, clock=fake_clock)
    second = import_history(path, lake, clock=fake_clock)
    assert first.run_id == second.run_id
    assert len(all_rows(lake)) == 1


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
    lake = Lake(tmp_path / "lake")
    with pytest.raises(ImportFileError) as caught:
        import_history(path, lake, clock=fake_clock)
    assert str(caught.value).startswith(f"{path}:{line}: {reason}")
    assert "\n" not in str(caught.value)
    assert lake.list() == []


def test_parse_moment() -> None:
    assert parse_moment("2008-07-01") == datetime(2008, 7, 1, tzinfo=UTC)
    assert parse_moment("2008-07-01T10:00:00") == datetime(2008, 7, 1, 10, tzinfo=UTC)
    assert parse_moment("2008-07-01T10:00:00+02:00") == datetime(2008, 7, 1, 8, tzinfo=UTC)


def test_cli_import_reports_the_line_and_keeps_what_was_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path / "warehouse"))
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(tmp_path / "missing.yaml"))
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
    assert "imported 1 rows" in ok.output
    failed = runner.invoke(main, ["import", str(bad)])
    assert failed.exit_code == 2
    assert failed.output.strip() == (
        f"followerledger: error: {bad}:3: followers 'lots' is not a whole number of 0 or more"
    )
    rows = all_rows(Lake(tmp_path / "warehouse/lake"))
    assert [(r["followers"], r["observed_at"].day) for r in rows] == [(5, 1)]
    assert (tmp_path / "warehouse/followerledger.duckdb").exists()


HEADER = "observed_at,platform,handle,followers\n"


def test_every_bad_row_is_reported_in_one_pass(tmp_path: Path, fake_clock: FakeClock) -> None:
    path = csv_file(
        tmp_path,
        HEADER + "2026-01-01,x,HP,5\nyesterday,x,HP,6\n2026-01-02,myspace,HP,7\n"
        "2026-01-03,x,HP,8\n2026-01-04,x,HP,lots\n",
    )
    lake = Lake(tmp_path / "lake")
    with pytest.raises(ImportFileError) as caught:
        import_history(path, lake, clock=fake_clock)
    lines = str(caught.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == [f"{path}:3", f"{path}:4", f"{path}:6"]
    assert "observed_at 'yesterday'" in lines[0]
    assert "unknown platform 'myspace'" in lines[1]
    assert "followers 'lots'" in lines[2]
    assert lake.list() == []


def test_bad_rows_beyond_the_cap_are_counted(tmp_path: Path, fake_clock: FakeClock) -> None:
    path = csv_file(tmp_path, HEADER + "".join(f"2026-01-01,x,HP,n{i}\n" for i in range(25)))
    with pytest.raises(ImportFileError) as caught:
        import_history(path, Lake(tmp_path / "lake"), clock=fake_clock)
    lines = str(caught.value).splitlines()
    assert len(lines) == 21
    assert lines[19].startswith(f"{path}:21: followers 'n19'")
    assert lines[20] == f"{path}: … and 5 more bad rows (25 in all); nothing was imported"


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
    report = import_history(path, Lake(tmp_path / "lake"), clock=fake_clock)
    assert report.rows == 2
    assert [(r["followers"], r["display_name"]) for r in all_rows(Lake(tmp_path / "lake"))] == [
        (1516, "Dell; Outlet"),
        (1600, None),
    ]


def test_semicolon_csv_bad_rows_name_their_lines(tmp_path: Path, fake_clock: FakeClock) -> None:
    path = csv_file(tmp_path, "observed_at;platform;handle;followers\n2026-01-01;x;HP;5,5\n")
    with pytest.raises(ImportFileError, match=r":2: followers '5,5' is not a whole number"):
        import_history(path, Lake(tmp_path / "lake"), clock=fake_clock)


def test_handles_are_read_as_the_watchlist_reads_them(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    path = csv_file(
        tmp_path,
        HEADER + "2026-01-01,x,@DellOutlet,1\n2026-01-02,x,https://x.com/DellOutlet?s=20,2\n"
        "2026-01-03,youtube,Dell,3\n2026-01-04,mastodon,https://mastodon.social/@dell,4\n",
    )
    lake = Lake(tmp_path / "lake")
    import_history(path, lake, clock=fake_clock)
    assert [(r["handle"], r["requested_handle"]) for r in all_rows(lake)] == [
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
    lake = Lake(tmp_path / "warehouse/lake")
    report = import_history(
        path,
        lake,
        clock=fake_clock,
        watchlist=load_watchlist(watchlist_path),
        layout=WarehouseLayout.at(tmp_path / "warehouse"),
    )
    assert report.rows == 4
    assert len(all_rows(lake)) == 4
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


def land_sighting(lake: Lake, platform: str, handle: str, account_id: str) -> None:
    """A snapshot row in the lake: `handle` (as requested) resolved to `account_id`."""
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    row = Observation(
        run_id="run-1",
        observed_at=moment,
        platform=platform,
        handle=handle,
        status="ok",
        source="api",
        account_id=account_id,
        followers=10,
        requested_handle=handle,
    )
    lake.write(observation_key(platform, moment.date(), "run-1"), to_table([row]))


def test_rows_under_an_old_handle_with_a_watched_id_are_not_unwatched(
    tmp_path: Path, fake_clock: FakeClock
) -> None:
    watchlist_path = tmp_path / "watchlist.yaml"
    watchlist_path.write_text("brands:\n  Dell:\n    x: [DellOutlet]\n", encoding="utf-8")
    warehouse = tmp_path / "warehouse"
    lake = Lake(warehouse / "lake")
    land_sighting(lake, "x", "DellOutlet", "42")
    path = csv_file(
        tmp_path,
        "observed_at,platform,handle,followers,account_id\n"
        "2008-07-01,x,OldDell,1,42\n"
        "2008-07-01,x,Nobody,2,\n"
        "2008-07-01,x,Stranger,3,99\n"
        "2008-07-01,bluesky,old.dell.com,4,42\n",
    )
    report = import_history(
        path,
        lake,
        clock=fake_clock,
        watchlist=load_watchlist(watchlist_path),
        layout=WarehouseLayout.at(warehouse),
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
    warehouse = tmp_path / "warehouse"
    path = csv_file(
        tmp_path,
        "observed_at,platform,handle,followers,account_id\n"
        "2008-07-01,x,OldDell,1,42\n"
        "2009-07-01,x,DellOutlet,2,42\n",
    )
    report = import_history(
        path,
        Lake(warehouse / "lake"),
        clock=fake_clock,
        watchlist=load_watchlist(watchlist_path),
        layout=WarehouseLayout.at(warehouse),
    )
    assert report.unwatched == ()


def test_cli_import_does_not_warn_about_a_renamed_watched_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "warehouse"
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(warehouse))
    watchlist_path = tmp_path / "watchlist.yaml"
    watchlist_path.write_text("brands:\n  Dell:\n    x: [DellOutlet]\n", encoding="utf-8")
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(watchlist_path))
    land_sighting(Lake(warehouse / "lake"), "x", "DellOutlet", "42")
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
    runner = CliRunner()
    good = csv_file(tmp_path, HEADER + "2026-01-01,x,HP,5\n", "good.csv")
    assert runner.invoke(main, ["import", str(good)]).exit_code == 0
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
    rows = all_rows(Lake(tmp_path / "warehouse/lake"))
    assert [(r["handle"], r["followers"]) for r in rows] == [("HP", 5)]


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
    # The good rows around it are for other days: each would be a file of its own.
    path = csv_file(
        tmp_path,
        "observed_at,platform,handle,followers,account_id,display_name\n"
        f"2026-01-01,x,HP,5,,\n{row}\n2026-01-05,bluesky,hp.com,7,,\n",
    )
    lake = Lake(tmp_path / "lake")
    with pytest.raises(ImportFileError) as caught:
        import_history(path, lake, clock=fake_clock)
    assert str(caught.value) == f"{path}:3: {reason}"
    assert lake.list() == []
    assert list((tmp_path / "lake").rglob("*.parquet*")) == []


# Runs an import in a child process that SIGKILLs itself right after its Nth rename (`os.replace`)
# inside the lake, or right before it when N is negative: the one test-only hook, so the kill
# lands exactly between two files.
KILLED_IMPORT = """
import os, signal, sys
from pathlib import Path
from followerledger.history_import import import_history
from followerledger.lake import Lake

real_replace, renames, kill_at = os.replace, 0, int(sys.argv[3])

def replace(source, target):
    global renames
    renames += 1
    if renames == -kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(source, target)
    if renames == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

os.replace = replace
import_history(Path(sys.argv[1]), Lake(sys.argv[2]))
"""

#: Three days on two platforms: four files, landed (if ever) in one commit.
SPREAD = HEADER + (
    "2026-01-01,x,HP,5\n2026-01-02,x,HP,6\n2026-01-02,bluesky,hp.com,7\n2026-01-03,x,HP,8\n"
)


def import_killed_after(path: Path, lake: Path, renames: int) -> None:
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_IMPORT, str(path), str(lake), str(renames)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr


# Rename 1 is the pending marker's, 2-5 the four files': killed with all four files written
# but the marker not yet in place, after the marker, between files, and after the last file
# but before the commit.
@pytest.mark.parametrize("renames", [-1, 1, 3, 5])
def test_an_import_killed_between_its_files_leaves_none_of_them_visible(
    tmp_path: Path, renames: int
) -> None:
    path = csv_file(tmp_path, SPREAD)
    lake = Lake(tmp_path / "lake")
    import_killed_after(path, tmp_path / "lake", renames)
    assert lake.list() == []
    # The next import of the file lands all of it, once, and clears what the dead one left.
    report = import_history(path, lake)
    assert len(report.files) == 4
    assert [(r["platform"], r["followers"]) for r in all_rows(lake)] == [
        ("x", 5),
        ("x", 6),
        ("bluesky", 7),
        ("x", 8),
    ]
    leftovers = sorted(p.name for p in (tmp_path / "lake").rglob("*") if p.is_file())
    # Killed before its marker named them, the files' temporaries are anonymous: the sweep of
    # old temporary files removes those (issue 12, item 5).
    unnamed = [f".{report.run_id}.parquet.tmp-" for _ in range(4)] if renames < 0 else []
    assert [name.split("tmp-")[0] + "tmp-" if ".tmp-" in name else name for name in leftovers] == (
        sorted([".lock", *unnamed, *[f"{report.run_id}.parquet"] * 4])
    )


def test_a_killed_re_import_keeps_the_files_the_first_import_landed(tmp_path: Path) -> None:
    path = csv_file(tmp_path, SPREAD)
    lake = Lake(tmp_path / "lake")
    first = import_history(path, lake)
    import_killed_after(path, tmp_path / "lake", 3)
    assert [item.key for item in lake.list()] == [item.key for item in first.files]
    assert [r["followers"] for r in all_rows(lake)] == [5, 6, 7, 8]


def test_a_refresh_after_a_killed_import_shows_none_of_it(tmp_path: Path) -> None:
    path = csv_file(tmp_path, SPREAD)
    warehouse = tmp_path / "warehouse"
    lake = Lake(warehouse / "lake")
    import_killed_after(path, warehouse / "lake", 3)
    placed = sorted(p.name for p in (warehouse / "lake").rglob("*.parquet"))
    assert placed  # the dead import had put some files in place, behind its marker
    refresh(WarehouseLayout.at(warehouse, lake.root), None)
    assert query(warehouse, "select count(*) from observations") == [(0,)]
    # The refresh cleared what the dead commit left: its placed files and its marker.
    assert sorted(p.name for p in (warehouse / "lake").rglob("*.parquet")) == []
    assert list((warehouse / "lake" / "_pending").glob("*.json")) == []
    import_history(path, lake)
    refresh(WarehouseLayout.at(warehouse, lake.root), None)
    assert query(warehouse, "select sum(followers) from observations") == [(26,)]


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
    assert Lake(tmp_path / "warehouse/lake").list() == []
