"""Requests per 1,000 accounts, per platform, against the emulator: first run and later runs.

The API minimum is X 10, YouTube 20, Bluesky 40 requests per 1,000 accounts (their batch
maxima); Mastodon reads by id in batches of 40 per instance once resolved; Twitch reads one
broadcaster's total per call, 1,000 (plus 10 users calls on a first run, 100 logins each).
Twitch's figure counts its app-token request to the auth host too: one per run. Instagram
and Facebook ride 50 Graph calls in one batch request (20 requests per 1,000 accounts), and
Meta counts each call against its budget: 1,000 calls per 1,000 accounts, printed beside the
requests. Threads looks up one username per request: 1,000.
"""

from __future__ import annotations

from collections.abc import Callable

from followerledger.emulator import EmulatorServer, EmulatorState, emulator_environment
from followerledger.settings import load_settings
from followerledger.sources import build_source
from followerledger.sources.base import Target
from followerledger.sources.throttle import RatePolicy, Throttle

HANDLES: dict[str, Callable[[int], str]] = {
    "x": lambda i: f"brand{i:05d}",
    "bluesky": lambda i: f"brand{i}.example.com",
    "mastodon": lambda i: f"brand{i}@mastodon.example",
    "youtube": lambda i: f"@brand{i}",
    "instagram": lambda i: f"brand{i:05d}",
    "facebook": lambda i: f"brand{i:05d}",
    "threads": lambda i: f"brand{i:05d}",
    "twitch": lambda i: f"brand{i:05d}",
}
#: Later runs' minimum (a first run's is Twitch's 1,010).
MINIMUM = {
    "x": 10,
    "youtube": 20,
    "bluesky": 40,
    "mastodon": 25,
    "instagram": 20,
    "facebook": 20,
    "threads": 1000,
    "twitch": 1000,
}
#: Platforms whose budget counts the calls inside a request (Graph batches): their calls per
#: 1,000 accounts are printed too (the minimum: one per account).
CALLS_COUNTED = ("instagram", "facebook")


def _no_wait(policy: RatePolicy) -> Throttle:
    return lambda: None


def run(quick: bool = False) -> dict[str, tuple[int, int]]:
    """Print and return (first run, later run) requests per 1,000 accounts."""
    count = 100 if quick else 1000
    figures: dict[str, tuple[int, int]] = {}
    # Generous emulated budgets: this counts requests; the budgets are exercised in tests.
    roomy = dict.fromkeys(
        ("x", "bluesky", "mastodon", "instagram", "facebook", "threads", "twitch"), (10**6, 300)
    )
    with EmulatorServer(EmulatorState(limits=roomy, youtube_quota=10**6)) as emulator:
        environment = emulator_environment(emulator.url)
        settings = load_settings(
            x_api_url=emulator.url,
            bluesky_api_url=emulator.url,
            mastodon_api_url=emulator.url,
            youtube_api_url=environment["FOLLOWERLEDGER_YOUTUBE_API_URL"],
            twitch_api_url=environment["FOLLOWERLEDGER_TWITCH_API_URL"],
            twitch_auth_url=environment["FOLLOWERLEDGER_TWITCH_AUTH_URL"],
            x_bearer_token="bench",
            youtube_api_key="bench",
            twitch_client_id="bench",
            twitch_client_secret="bench-secret",
            graph_api_url=environment["FOLLOWERLEDGER_GRAPH_API_URL"],
            threads_api_url=environment["FOLLOWERLEDGER_THREADS_API_URL"],
            meta_access_token=environment["META_ACCESS_TOKEN"],
            instagram_user_id=environment["FOLLOWERLEDGER_INSTAGRAM_USER_ID"],
            threads_access_token=environment["THREADS_ACCESS_TOKEN"],
        )
        for platform, handle in HANDLES.items():
            targets = [Target(handle(i)) for i in range(count)]
            spent = []
            calls = []
            for _ in range(2):
                # Counting requests, not time: no rate-budget waits here.
                source = build_source(platform, settings, throttle_for=_no_wait)
                rows = [
                    row for batch in source.plan(targets) for row in source.fetch(batch, "bench")
                ]
                usage = source.usage()
                spent.append(usage.requests * 1000 // count)
                calls.append((usage.quota_units or 0) * 1000 // count)
                targets = [Target(row.requested_handle or "", row.account_id) for row in rows]
            figures[platform] = (spent[0], spent[1])
            print(
                f"requests per 1,000 {platform} accounts: first run {spent[0]}, later runs "
                f"{spent[1]} (API minimum {MINIMUM[platform]}; ratio "
                f"{spent[1] / MINIMUM[platform]:.2f}x)"
                + (
                    f"; Graph calls first run {calls[0]}, later runs {calls[1]} (minimum 1000)"
                    if platform in CALLS_COUNTED
                    else ""
                )
            )
    return figures
