"""Token buckets: bursts up to the limit, then the documented rate."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from followerledger.sources import throttle as throttle_module

# Imported here, not in a test: importing Prefect configures logging, which must happen
# before caplog installs its handler.
from followerledger.sources.prefect_budgets import LocalBudgets
from followerledger.sources.throttle import POLICIES, RatePolicy, TokenBucket, policy_for


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_burst_then_the_sustained_rate() -> None:
    ticks = Ticks()
    bucket = TokenBucket(3, 0.5, clock=ticks.clock, sleep=ticks.sleep)
    waits = [bucket.take() for _ in range(5)]
    assert waits == [0.0, 0.0, 0.0, 2.0, 2.0]
    ticks.now += 10  # idle: the bucket refills, but never beyond its capacity
    assert [bucket.take() for _ in range(4)] == [0.0, 0.0, 0.0, 2.0]


def test_documented_policies() -> None:
    assert (POLICIES["x"].limit, POLICIES["x"].per_seconds) == (300, 900)
    assert round(POLICIES["x"].per_second, 4) == 0.3333
    assert policy_for("mastodon", "Mastodon.Social").name == "mastodon-mastodon-social"
    assert POLICIES["youtube"].limit == 10_000


def test_configured_budgets_replace_the_documented_ones() -> None:
    import pytest

    from followerledger.settings import SettingsError, load_settings

    settings = load_settings(rate_budgets="x=10000/900, youtube=1000000/86400")
    assert policy_for("x", budgets=settings.budgets).limit == 10_000
    assert policy_for("mastodon", "a.example", settings.budgets).limit == 300
    with pytest.raises(SettingsError, match="RATE_BUDGETS: entry 1 must read platform=requests"):
        load_settings(rate_budgets="x=lots")


# --- long waits speak (issue 11, item 7) ---------------------------------------------------

NOON = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_a_long_local_wait_logs_one_warning_naming_the_platform_and_until_when(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ticks = Ticks()
    youtube = POLICIES["youtube"]  # one request every 8.64 s once the burst is spent
    bucket = TokenBucket(
        1, youtube.per_second, ticks.clock, ticks.sleep, name="youtube", wall_clock=lambda: NOON
    )
    logger = logging.getLogger("test.throttle.long")
    with caplog.at_level(logging.WARNING, logger="test.throttle.long"):
        assert bucket.take(logger) == 0.0
        assert caplog.records == []
        assert round(bucket.take(logger), 2) == 8.64
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            "test.throttle.long",
            logging.WARNING,
            "youtube: rate budget spent (one request every 8.64 s), waiting 9 s until 12:00:09 UTC",
        )
    ]


def test_a_short_local_wait_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    ticks = Ticks()
    bucket = TokenBucket(1, 0.5, ticks.clock, ticks.sleep, name="x", wall_clock=lambda: NOON)
    with caplog.at_level(logging.DEBUG):
        waits = [bucket.take(logging.getLogger("test.throttle.short")) for _ in range(3)]
    assert waits == [0.0, 2.0, 2.0]
    assert caplog.records == []


def test_local_budgets_log_on_the_logger_they_are_given(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ticks = Ticks()
    policy = RatePolicy("youtube", 1, 60)
    bucket = TokenBucket(1, policy.per_second, ticks.clock, ticks.sleep, name="youtube")
    monkeypatch.setitem(throttle_module._BUCKETS, policy, bucket)
    run_logger = logging.getLogger("test.throttle.run")
    take = LocalBudgets(run_logger)(policy)
    with caplog.at_level(logging.WARNING):
        take()
        take()
    assert ticks.slept == [60.0]
    [record] = caplog.records
    assert record.name == "test.throttle.run"
    assert record.getMessage().startswith(
        "youtube: rate budget spent (one request every 60 s), waiting 60 s until "
    )
