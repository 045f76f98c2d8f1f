"""The emulator speaks the official shapes and misbehaves on request."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
import requests

from followerledger.emulator import EmulatorServer, Fault
from followerledger.emulator.faults import Faults
from followerledger.emulator.world import ANCHOR, DELL_2008, followers_at, trajectory


def test_dell_accounts_start_from_the_2008_figures() -> None:
    for handle, count in (("DellOutlet", 1516), ("DellSmBizOffers", 151), ("DellChannel", 71)):
        assert followers_at("x", handle, ANCHOR) == count
    assert DELL_2008["delloutlet"] == 1516
    later = datetime(2026, 1, 1, tzinfo=UTC)
    assert followers_at("x", "DellOutlet", later) == followers_at("x", "DellOutlet", later)
    assert followers_at("x", "DellOutlet", later) > 1516
    assert trajectory("x", "HP") != trajectory("x", "Lenovo")


def test_x_shapes_and_auth(emulator: EmulatorServer) -> None:
    url = f"{emulator.url}/2/users/by"
    params = {"usernames": "DellOutlet,gone_account", "user.fields": "public_metrics"}
    assert requests.get(url, params=params, timeout=5).status_code == 401
    answer = requests.get(url, params=params, headers={"Authorization": "Bearer t"}, timeout=5)
    body = answer.json()
    assert set(body) == {"data", "errors"}
    user = body["data"][0]
    assert set(user) == {"id", "name", "username", "public_metrics"}
    assert set(user["public_metrics"]) == {
        "followers_count",
        "following_count",
        "post_count",
        "listed_count",
    }
    assert body["errors"][0]["title"] == "Not Found Error"
    assert answer.headers["x-rate-limit-limit"] == "300"
    assert answer.headers["x-followerledger-emulator"] == "1"
    too_many = requests.get(
        url,
        params={"usernames": ",".join(["a"] * 101)},
        headers={"Authorization": "Bearer t"},
        timeout=5,
    )
    assert too_many.status_code == 400
    assert too_many.json()["title"] == "Invalid Request"
    by_id = requests.get(
        f"{emulator.url}/2/users",
        params={"ids": user["id"], "user.fields": "public_metrics"},
        headers={"Authorization": "Bearer t"},
        timeout=5,
    ).json()
    assert by_id["data"][0]["username"] == "DellOutlet"


def test_bluesky_shapes(emulator: EmulatorServer) -> None:
    answer = requests.get(
        f"{emulator.url}/xrpc/app.bsky.actor.getProfiles",
        params={"actors": ["dell.com", "gone.example.com"]},
        timeout=5,
    )
    [profile] = answer.json()["profiles"]
    assert {"did", "handle", "followersCount", "followsCount", "postsCount"} <= set(profile)
    assert answer.headers["RateLimit-Policy"] == "3000;w=300"
    missing = requests.get(
        f"{emulator.url}/xrpc/app.bsky.actor.getProfile",
        params={"actor": "gone.example.com"},
        timeout=5,
    )
    assert (missing.status_code, missing.json()) == (
        400,
        {"error": "InvalidRequest", "message": "Profile not found"},
    )
    too_many = requests.get(
        f"{emulator.url}/xrpc/app.bsky.actor.getProfiles",
        params={"actors": [f"a{i}.test" for i in range(26)]},
        timeout=5,
    )
    assert too_many.status_code == 400


def test_the_window_runs_out_with_platform_headers(emulator: EmulatorServer) -> None:
    emulator.state.windows["x"].limit = 2
    params = {"usernames": "HP"}
    headers = {"Authorization": "Bearer t"}
    codes = [
        requests.get(f"{emulator.url}/2/users/by", params=params, headers=headers, timeout=5)
        for _ in range(3)
    ]
    assert [c.status_code for c in codes] == [200, 200, 429]
    assert [c.headers["x-rate-limit-remaining"] for c in codes] == ["1", "0", "0"]
    assert codes[2].json()["status"] == 429


def test_faults_through_the_control_api(emulator: EmulatorServer) -> None:
    added = requests.post(
        f"{emulator.url}/_emulator/faults",
        json={"platform": "bluesky", "kind": "status", "code": 502},
        timeout=5,
    )
    assert added.status_code == 201
    bad = requests.post(
        f"{emulator.url}/_emulator/faults", json={"platform": "x", "kind": "explode"}, timeout=5
    )
    assert bad.status_code == 400
    answer = requests.get(
        f"{emulator.url}/xrpc/app.bsky.actor.getProfiles", params={"actors": "dell.com"}, timeout=5
    )
    assert answer.status_code == 502
    assert (
        requests.get(
            f"{emulator.url}/xrpc/app.bsky.actor.getProfiles",
            params={"actors": "dell.com"},
            timeout=5,
        ).status_code
        == 200
    )
    counts = requests.get(f"{emulator.url}/_emulator/requests", timeout=5).json()
    assert counts == {"bluesky:/xrpc/app.bsky.actor.getProfiles": 2}


def test_emulator_command_serves_until_stopped() -> None:
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = Path(sys.executable).parent / "followerledger"
    process = subprocess.Popen(
        [str(command), "emulator", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = requests.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, process.stderr
                time.sleep(0.1)
        assert answer.json()["emulator"] == "followerledger"
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=15)
    assert f"export FOLLOWERLEDGER_X_API_URL=http://127.0.0.1:{port}" in out


def test_mastodon_shapes(emulator: EmulatorServer) -> None:
    base = emulator.url
    found = requests.get(
        f"{base}/api/v1/accounts/lookup", params={"acct": "Dell@mastodon.social"}, timeout=5
    )
    account = found.json()
    assert {
        "id",
        "username",
        "acct",
        "followers_count",
        "following_count",
        "statuses_count",
        "display_name",
        "url",
    } <= set(account)
    assert found.headers["X-RateLimit-Reset"].endswith("Z")
    suspended = requests.get(
        f"{base}/api/v1/accounts/lookup",
        params={"acct": "suspendedbrand@mastodon.social"},
        timeout=5,
    ).json()
    assert (suspended["suspended"], suspended["followers_count"]) == (True, 0)
    missing = requests.get(
        f"{base}/api/v1/accounts/lookup", params={"acct": "gone@mastodon.social"}, timeout=5
    )
    assert (missing.status_code, missing.json()) == (404, {"error": "Record not found"})
    many = requests.get(
        f"{base}/api/v1/accounts",
        params=[("id[]", account["id"]), ("id[]", suspended["id"])],
        timeout=5,
    )
    assert [item["id"] for item in many.json()] == [account["id"]]
    assert requests.get(f"{base}/api/v2/instance", timeout=5).json()["version"] == "4.3.2"


def test_youtube_shapes(emulator: EmulatorServer) -> None:
    url = f"{emulator.url}/youtube/v3/channels"
    assert (
        requests.get(
            url, params={"part": "statistics", "forHandle": "@Dell"}, timeout=5
        ).status_code
        == 403
    )
    answer = requests.get(
        url, params={"part": "statistics,snippet", "forHandle": "@Dell", "key": "k"}, timeout=5
    ).json()
    [item] = answer["items"]
    assert item["id"].startswith("UC")
    assert len(item["id"]) == 24
    assert isinstance(item["statistics"]["subscriberCount"], str)
    hidden = requests.get(
        url, params={"part": "statistics", "forHandle": "@ASUS", "key": "k"}, timeout=5
    ).json()["items"][0]["statistics"]
    assert hidden["hiddenSubscriberCount"] is True
    assert "subscriberCount" not in hidden
    nothing = requests.get(
        url, params={"part": "statistics", "forHandle": "@gone_channel", "key": "k"}, timeout=5
    ).json()
    assert "items" not in nothing
    assert nothing["pageInfo"]["totalResults"] == 0


def test_renames_follow_the_clock() -> None:
    from datetime import timedelta

    from followerledger.emulator.world import Rename, World

    moment = datetime(2026, 6, 1, tzinfo=UTC)
    world = World(renamed={("x", "oldname"): Rename("NewName", moment)})
    before, after = moment - timedelta(days=1), moment + timedelta(days=1)
    assert world.lookup("x", "OldName", before).handle == "OldName"
    assert world.lookup("x", "OldName", after).state == "not_found"
    assert world.lookup("x", "NewName", after).handle == "NewName"
    assert world.lookup("x", "NewName", before).state == "not_found"
    assert world.lookup("x", "NewName", after).id == world.lookup("x", "OldName", before).id


def draws(faults: Faults, asked: list[str]) -> list[str | None]:
    taken = [faults.take("x", request)[0] for request in asked]
    return [fault.kind if fault else None for fault in taken]


def test_rate_faults_hit_a_seeded_share_of_requests_whatever_the_order() -> None:
    def seeded(seed: int) -> Faults:
        faults = Faults()
        faults.add(Fault("x", "status", rate=0.3, seed=seed))
        faults.add(Fault("x", "truncated", rate=0.5, seed=seed))
        return faults

    keys = [f"/2/users?ids={n % 50}" for n in range(2000)]
    first = draws(seeded(7), keys)
    assert Counter(first)["status"] == pytest.approx(600, abs=60)
    assert Counter(first)["truncated"] == pytest.approx(700, abs=70)  # half of the other 70%
    # The same requests in another order meet the same faults: retries of one request are
    # told apart by how often it was asked, not by what else was asked in between.
    order = sorted(range(2000), key=lambda n: (n % 50, n))
    again = draws(seeded(7), [keys[n] for n in order])
    assert [again[order.index(n)] for n in range(2000)] == first
    assert draws(seeded(8), keys) != first
    faults = seeded(7)
    draws(faults, keys)
    assert faults.hits == Counter(kind for kind in first if kind is not None)


def test_a_rate_outside_0_to_1_is_refused(emulator: EmulatorServer) -> None:
    bad = requests.post(
        f"{emulator.url}/_emulator/faults",
        json={"platform": "x", "kind": "status", "rate": 1.5},
        timeout=5,
    )
    assert bad.status_code == 400
    added = requests.post(
        f"{emulator.url}/_emulator/faults",
        json={"platform": "bluesky", "kind": "status", "rate": 1.0, "seed": 3},
        timeout=5,
    )
    assert added.status_code == 201
    for _ in range(3):
        answer = requests.get(
            f"{emulator.url}/xrpc/app.bsky.actor.getProfiles",
            params={"actors": "dell.com"},
            timeout=5,
        )
        assert answer.status_code == 503
