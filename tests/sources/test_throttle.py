"""Token buckets: bursts up to the limit, then the documented rate."""

from __future__ import annotations

from followerledger.sources.throttle import POLICIES, TokenBucket, policy_for


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
