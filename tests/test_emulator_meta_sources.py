"""The Meta sources, built from `emulator_environment`, read real rows from the emulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from followerledger.emulator import EmulatorServer, EmulatorState, Fault, emulator_environment
from followerledger.emulator.world import followers_at
from followerledger.observation import Observation
from followerledger.settings import Settings, load_settings
from followerledger.sources import build_source
from followerledger.sources.base import Target
from followerledger.sources.throttle import RatePolicy, Throttle
from tests.conftest import FakeClock


def _no_wait(policy: RatePolicy) -> Throttle:
    return lambda: None


@pytest.fixture
def served(
    fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[EmulatorServer, Settings]]:
    with EmulatorServer(EmulatorState(clock=fake_clock)) as emulator:
        for name, value in emulator_environment(emulator.url).items():
            monkeypatch.setenv(name, value)
        yield emulator, load_settings()


def fetch(
    platform: str, settings: Settings, handles: list[str], clock: FakeClock
) -> dict[str, Observation]:
    source = build_source(platform, settings, throttle_for=_no_wait, clock=clock, sleep=clock.sleep)
    targets = [Target(handle) for handle in handles]
    rows = [row for batch in source.plan(targets) for row in source.fetch(batch, "e2e")]
    return {row.handle: row for row in rows}


def test_instagram_rows_from_the_emulator(
    served: tuple[EmulatorServer, Settings], fake_clock: FakeClock
) -> None:
    emulator, settings = served
    rows = fetch(
        "instagram", settings, ["dell", "delltech", "gone_brand", "personal_shop"], fake_clock
    )
    dell = rows["dell"]
    assert dell.status == "ok"
    assert dell.followers == followers_at("instagram", "dell", fake_clock.now)
    assert dell.account_id is not None
    assert len(dell.account_id) == 17
    assert rows["gone_brand"].status == "not_found"
    assert rows["personal_shop"].status == "not_found"
    assert emulator.state.requests["instagram:calls"] == 4
    assert emulator.state.requests["instagram:/v25.0/"] == 1  # one batch POST


def test_facebook_rows_from_the_emulator(
    served: tuple[EmulatorServer, Settings], fake_clock: FakeClock
) -> None:
    emulator, settings = served
    rows = fetch("facebook", settings, ["Dell", "DellTechnologies", "gone.page"], fake_clock)
    page = rows["DellTechnologies"]
    assert page.status == "ok"
    assert page.followers == followers_at("facebook", "DellTechnologies", fake_clock.now)
    assert page.account_id is not None
    assert page.account_id.isdigit()
    assert rows["gone.page"].status == "not_found"
    assert emulator.state.requests["facebook:calls"] == 3


def test_threads_rows_from_the_emulator(
    served: tuple[EmulatorServer, Settings], fake_clock: FakeClock
) -> None:
    emulator, settings = served
    rows = fetch("threads", settings, ["dell", "gone_brand"], fake_clock)
    dell = rows["dell"]
    assert dell.status == "ok"
    assert dell.followers == followers_at("threads", "dell", fake_clock.now)
    assert rows["gone_brand"].status == "not_found"
    assert emulator.state.requests["threads:/v1.0/profile_lookup"] == 2


def test_a_batch_left_half_null_is_completed_by_sending_the_rest_again(
    served: tuple[EmulatorServer, Settings], fake_clock: FakeClock
) -> None:
    emulator, settings = served
    emulator.state.faults.add(Fault("facebook", "partial"))
    pages = ["DellTechnologies", "lenovo", "Dell.Outlet", "hp.brand"]
    rows = fetch("facebook", settings, pages, fake_clock)
    assert {handle: row.status for handle, row in rows.items()} == dict.fromkeys(pages, "ok")
    assert emulator.state.requests["facebook:/v25.0/"] == 2
    assert emulator.state.requests["facebook:calls"] == 4 + 2


@pytest.mark.parametrize(
    ("state", "platform", "handle", "named"),
    [
        (EmulatorState(meta_access_token="another"), "instagram", "dell", "META_ACCESS_TOKEN"),
        (EmulatorState(meta_access_token="another"), "facebook", "lenovo", "META_ACCESS_TOKEN"),
        (EmulatorState(threads_access_token="another"), "threads", "meta", "THREADS_ACCESS_TOKEN"),
        (
            EmulatorState(instagram_user_ids={"17841400000000001"}),
            "instagram",
            "dell",
            "FOLLOWERLEDGER_INSTAGRAM_USER_ID",
        ),
        (EmulatorState(threads_access="standard"), "threads", "dell", "Advanced Access"),
    ],
)
def test_the_emulators_refusals_reach_the_rows_as_what_to_do(
    state: EmulatorState,
    platform: str,
    handle: str,
    named: str,
    fake_clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with EmulatorServer(state) as emulator:
        for name, value in emulator_environment(emulator.url).items():
            monkeypatch.setenv(name, value)
        [row] = fetch(platform, load_settings(), [handle], fake_clock).values()
    assert row.status == "error"
    assert row.detail is not None
    assert named in row.detail
    assert "emulator-meta-access-token" not in row.detail
