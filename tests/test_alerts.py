"""Alerts reach a real webhook (Apprise over loopback) exactly once per event."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from followerledger import landing
from followerledger.alerts import AlertConfigError, alert_on_changes, apprise_sender
from followerledger.delta_lake import DeltaLake
from followerledger.layout import WarehouseLayout
from followerledger.observation import Observation
from followerledger.run_changes import account_changes, read_window
from followerledger.settings import load_settings
from followerledger.watchlist import AlertRules, WatchlistError, load_watchlist

WATCHLIST = """\
brands:
  Alpha:
    x: [alpha, beta, gamma]
alerts:
  milestones: [1000, 5000]
  drop_percent: 10
  stale_hours: 6
"""
DAY = datetime(2026, 11, 10, tzinfo=UTC)


def received(httpserver: HTTPServer) -> list[dict[str, Any]]:
    """The JSON bodies the webhook answered with 200."""
    return [
        json.loads(request.get_data())
        for request, response in httpserver.log
        if response.status_code == 200
    ]


class Timeline:
    """Runs landing in a tiny lake, each followed by the alert step of the snapshot flow."""

    def __init__(self, root: Path, url: str) -> None:
        (root / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
        self.watchlist = load_watchlist(root / "watchlist.yaml")
        self.settings = load_settings(warehouse=root / "warehouse", alert_urls=url)
        self.lake = DeltaLake(root / "warehouse" / "lake")

    def run(self, hours: float, **counts: int | None) -> tuple[int, int, int]:
        """Land a run at DAY + hours; return alerts (sent, sent before, failed)."""
        when = DAY + timedelta(hours=hours)
        run_id = f"{when:%Y%m%dT%H%M%SZ}-t"
        rows = [
            Observation(
                run_id=run_id,
                observed_at=when,
                platform="x",
                handle=handle,
                status="ok" if followers is not None else "error",
                source="api",
                account_id=f"id-{handle}",
                followers=followers,
                detail=None if followers is not None else "X answered HTTP 503",
                requested_handle=handle,
            )
            for handle, followers in counts.items()
        ]
        landing.write_observations(self.lake, "x", run_id, when, rows)
        window = read_window(self.watchlist.alerts.stale_hours)
        changes = account_changes(
            WarehouseLayout.at(self.settings.warehouse, self.lake.root),
            self.watchlist,
            run_id,
            when,
            window,
        )
        report = alert_on_changes(self.settings, self.watchlist.alerts, changes, when)
        assert report is not None
        return len(report.sent), report.already_sent, len(report.failed)


@pytest.fixture
def hook(httpserver: HTTPServer) -> str:
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    return f"json://127.0.0.1:{httpserver.port}/hook"


def test_each_event_is_sent_once_across_repeated_runs(
    tmp_path: Path, httpserver: HTTPServer, hook: str
) -> None:
    timeline = Timeline(tmp_path, hook)
    assert timeline.run(-12, alpha=990, beta=5000, gamma=300) == (0, 0, 0)
    # alpha reaches 1,000; beta drops 20% below yesterday's close; gamma fails for 21 hours.
    assert timeline.run(9, alpha=1010, beta=4000, gamma=None) == (3, 0, 0)
    assert timeline.run(10, alpha=1020, beta=3900, gamma=None) == (0, 2, 0)
    # gamma is counted again (its stale spell ends), then goes silent for 14 hours: a new spell.
    assert timeline.run(11, alpha=1030, beta=3900, gamma=310) == (0, 1, 0)
    assert timeline.run(25, alpha=1040, beta=3900, gamma=None) == (1, 0, 0)

    titles = [message["title"] for message in received(httpserver)]
    assert titles == [
        "alpha reached 1,000 followers",
        "beta lost 20.0% of its followers on 2026-11-10",
        "gamma has no fresh follower count",
        "gamma has no fresh follower count",
    ]
    bodies = [message["message"] for message in received(httpserver)]
    assert bodies[0] == "alpha on x (Alpha) has 1,010 followers (was 990)."
    assert (
        "last counted 2026-11-09 12:00 UTC; latest status: error (X answered HTTP 503)"
        in (bodies[2])
    )
    assert "last counted 2026-11-10 11:00 UTC" in bodies[3]


def test_a_failed_delivery_is_sent_by_the_next_run_and_then_never_again(
    tmp_path: Path, httpserver: HTTPServer, hook: str
) -> None:
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("down", 503)
    timeline = Timeline(tmp_path, hook)
    assert timeline.run(0, alpha=4990, beta=10, gamma=10) == (0, 0, 0)
    assert timeline.run(1, alpha=5001, beta=10, gamma=10) == (0, 0, 1)
    # The crossing is in the past now; the pending alert still goes out, once.
    assert timeline.run(2, alpha=5002, beta=10, gamma=10) == (1, 0, 0)
    assert timeline.run(3, alpha=5003, beta=10, gamma=10) == (0, 0, 0)
    assert [m["title"] for m in received(httpserver)] == ["alpha reached 5,000 followers"]
    assert len(httpserver.log) == 2  # the failed attempt and the delivery


def test_alerts_are_off_without_destinations_and_bad_ones_are_named(tmp_path: Path) -> None:
    (tmp_path / "watchlist.yaml").write_text(WATCHLIST, encoding="utf-8")
    rules = load_watchlist(tmp_path / "watchlist.yaml").alerts
    settings = load_settings(warehouse=tmp_path / "warehouse")
    assert alert_on_changes(settings, rules, [], DAY) is None
    with pytest.raises(AlertConfigError, match="FOLLOWERLEDGER_ALERT_URLS holds no URL"):
        apprise_sender("not a url at all")


def test_the_alerts_section_is_validated_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(
        "brands:\n  A:\n    x: [a]\nalerts:\n  drop_percent: 10\n  stale_hours: 0\n"
        "  milestones: [1000, -5]\n  failed_runs: maybe\n  quiet: true\n",
        encoding="utf-8",
    )
    with pytest.raises(WatchlistError) as error:
        load_watchlist(path)
    assert str(error.value).splitlines() == [
        f"{path}:6: alerts.stale_hours must be hours above 0, up to 8784 (a year)",
        f"{path}:7: alerts.milestones must be a list of whole numbers from 1 to 10,000,000,000",
        f"{path}:8: alerts.failed_runs must be true or false",
        f"{path}:9: unknown alert rule 'quiet': use milestones, drop_percent, stale_hours "
        "or failed_runs",
    ]
    path.write_text(
        "brands:\n  A:\n    x: [a]\nalerts:\n  drop_percent: null\n  milestones: [10, 1]\n",
        encoding="utf-8",
    )
    assert load_watchlist(path).alerts == AlertRules(
        milestones=(1, 10), drop_percent=None, stale_hours=6.0, failed_runs=True
    )
