"""CSV import: validated whole, reported by line, idempotent, provenance kept."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from followerledger.cli import main
from followerledger.history_import import ImportFileError, import_history, parse_moment
from followerledger.lake import Lake
from tests.conftest import FakeClock

REPO = Path(__file__).resolve().parents[1]


def csv_file(tmp_path: Path, text: str, name: str = "history.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def all_rows(lake: Lake) -> list[dict[str, object]]:
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
