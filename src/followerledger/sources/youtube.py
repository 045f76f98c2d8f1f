"""YouTube Data API v3 `channels.list`: 50 channel ids per request, API key, daily quota.

Contract: ../shared/contracts/youtube (discovery document rev. 20261104).
An `@handle` is resolved once with `forHandle` (1 quota unit, and the answer already carries
the statistics); later runs read `part=statistics,snippet` for up to 50 ids per request.
`subscriberCount` is a string, rounded by YouTube to three significant figures. A 403
`quotaExceeded` stops the platform for the rest of the run: no further request is sent.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from followerledger.observation import Observation
from followerledger.sources.base import (
    ApiSource,
    MalformedAnswer,
    RowFactory,
    Target,
    Usage,
    as_text,
    batches,
    read_json,
)
from followerledger.sources.http import ApiClient, no_budget_headers
from followerledger.sources.platform import Connect, Credential, Platform, RatePolicy
from followerledger.sources.profile_links import NotAProfile, link

if TYPE_CHECKING:
    from followerledger.settings import Settings

BATCH_SIZE: Final = 50
PARTS: Final = "statistics,snippet"
#: Google's error reasons for a key it will not take (any 403 but quotaExceeded is one too).
KEY_REJECTED: Final = frozenset({"keyInvalid", "keyExpired"})
#: YouTube's daily quota resets at midnight Pacific time.
QUOTA_ZONE: Final = ZoneInfo("America/Los_Angeles")
HOSTS: Final = frozenset({"youtube.com", "www.youtube.com", "m.youtube.com"})
CHANNEL_ID: Final = re.compile(r"^UC[A-Za-z0-9_-]{22}$")
API_KEY: Final = Credential(
    "youtube_api_key",
    "YOUTUBE_API_KEY",
    "followerledger-youtube-api-key",
    "put a YouTube Data API v3 key",
    "youtube_api_keys",
    "YOUTUBE_API_KEYS",
)


def read_written(written: str) -> str:
    """`@handle` from `handle`, `@handle` or `https://www.youtube.com/@handle`; a `UC…`
    channel id from itself or `https://www.youtube.com/channel/UC…`."""
    if "/" in written:
        _, segments = link(written, HOSTS)
        if len(segments) == 1 and segments[0].startswith("@"):
            return segments[0]
        if len(segments) == 2 and segments[0] == "channel":
            return segments[1]
        raise NotAProfile
    if written.startswith("@") or CHANNEL_ID.match(written):
        return written
    return f"@{written}"


def build(settings: Settings, connect: Connect) -> YouTubeSource:
    """The source, sending its credential's API key as the `key` parameter, paced by (and
    spending the daily quota of) that key."""
    assert connect.credential is not None
    key = connect.credential.secret
    policy = PLATFORM.rate_policy(budgets=settings.budgets, credential=connect.index)
    client = connect.client(settings.youtube_api_url, connect.session(None), policy, [key])
    return YouTubeSource(client, key, connect.credential.label)


def channel_id(target: Target) -> str | None:
    """The channel id to read by: resolved earlier, or given as `UC…` in the watchlist."""
    if target.account_id:
        return target.account_id
    return target.handle if target.handle.startswith("UC") else None


def next_quota_reset(now: datetime) -> datetime:
    """The next midnight in Pacific time, as a UTC datetime."""
    local = now.astimezone(QUOTA_ZONE)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=QUOTA_ZONE)
    return midnight.astimezone(now.tzinfo)


#: The YouTube Data API v3 (../shared/contracts/youtube): channel ids as the discovery
#: document writes them; 10,000 quota units a day, one unit per `channels.list`.
PLATFORM: Final = Platform(
    name="youtube",
    label="YouTube",
    handle_pattern=re.compile(r"^(?:@[A-Za-z0-9._-]{1,30}|UC[A-Za-z0-9_-]{22})$"),
    handle_rule="YouTube handles are up to 30 letters, digits, '.', '_' or '-', with or without "
    "'@' or as https://www.youtube.com/@…, or UC… channel ids (or "
    "https://www.youtube.com/channel/UC…)",
    read_written=read_written,
    account_id=re.compile(r"UC[A-Za-z0-9_-]{22}"),
    id_field="id",
    batch_size=BATCH_SIZE,
    policy=RatePolicy("youtube", 10_000, 24 * 3600),
    read_budget=no_budget_headers,
    build=build,
    emulator="followerledger.emulator.youtube_api",
    credentials=(API_KEY,),
    exact_prefix="UC",
)


class YouTubeSource(ApiSource):
    """Subscriber counts from the YouTube Data API v3: one request per batch, unless the
    quota already ran out in this run."""

    spec = PLATFORM

    def __init__(self, client: ApiClient, api_key: str, credential: str | None = None) -> None:
        super().__init__(client, credential)
        self._key = api_key
        self._lock = threading.Lock()
        self._stopped: str | None = None

    def usage(self) -> Usage:
        """Requests made; each `channels.list` call costs one quota unit."""
        return Usage(self.client.requests_made, self.client.requests_made)

    def plan(self, targets: Sequence[Target]) -> list[list[Target]]:
        """Known channel ids 50 per request; each unresolved handle in a request of its own."""
        by_id = [target for target in targets if channel_id(target)]
        by_handle = [[target] for target in targets if not channel_id(target)]
        return batches(by_id, BATCH_SIZE) + by_handle

    def _fetch(self, batch: Sequence[Target], make: Callable[[], RowFactory]) -> list[Observation]:
        with self._lock:
            stopped = self._stopped
        if stopped is not None:
            rows = make()
            return [rows.status(target, "error", stopped) for target in batch]
        params: dict[str, Any] = {"part": PARTS, "key": self._key}
        ids = [channel_id(target) for target in batch]
        by_handle = ids == [None]
        if by_handle:
            params["forHandle"] = batch[0].handle
        else:
            params["id"] = ",".join(str(value) for value in ids)
            params["maxResults"] = BATCH_SIZE
        response = self.client.get("/channels", params, shape=channels_problem)
        body = read_json(response)
        rows = make()
        if response.status_code == 403 and error_reason(body) == "quotaExceeded":
            reset = next_quota_reset(rows.observed_at)
            detail = (
                "YouTube quota exhausted; no more requests this run "
                f"(the quota resets at {reset:%Y-%m-%dT%H:%M:%SZ})"
            )
            with self._lock:
                self._stopped = detail
            return [rows.status(target, "error", detail) for target in batch]
        if response.status_code != 200:
            detail = google_error_text(body, response.status_code)
            if response.status_code == 403 or error_reason(body) in KEY_REJECTED:
                which = self.credential or API_KEY.variable
                detail = f"YouTube rejected the API key ({detail}): check {which}"
            return [rows.status(target, "error", detail) for target in batch]
        return parse_channels(body, batch, rows, by_handle=by_handle)


def error_reason(body: Any) -> str | None:
    """The `reason` of the first error in a Google JSON error envelope."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        errors = body["error"].get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            reason = errors[0].get("reason")
            return reason if isinstance(reason, str) else None
    return None


def google_error_text(body: Any, status_code: int) -> str:
    """A one-line description of a Google API error answer."""
    parts = [f"HTTP {status_code}"]
    reason = error_reason(body)
    if reason:
        parts.append(reason)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        message = body["error"].get("message")
        if isinstance(message, str):
            parts.append(message)
    return ": ".join(parts)


def channels_problem(body: Any) -> str | None:
    """What keeps a 200 answer of channels.list from being read, or None."""
    if not isinstance(body, dict):
        return "answer is not a JSON object"
    if not isinstance(body.get("items", []), list):
        return "'items' is not a list"
    return None


def parse_channels(
    body: Any, batch: Sequence[Target], rows: RowFactory, *, by_handle: bool
) -> list[Observation]:
    """Rows for a 200 answer of channels.list: one per target, in batch order.

    An answer without `items` means no such channel (YouTube answers 200 either way).
    """
    problem = channels_problem(body)
    if problem is not None:
        raise MalformedAnswer(problem)
    items = body.get("items", [])
    channels = [item for item in items if isinstance(item, dict)]
    by_id = {item["id"]: item for item in channels if isinstance(item.get("id"), str)}
    result = []
    for target in batch:
        if by_handle:
            channel = channels[0] if channels else None
        else:
            channel = by_id.get(str(channel_id(target)))
        if channel is None:
            result.append(
                rows.status(
                    target, "not_found", "no channel with this " + ("handle" if by_handle else "id")
                )
            )
        else:
            result.append(channel_row(channel, target, rows))
    return result


def channel_row(channel: dict[str, Any], target: Target, rows: RowFactory) -> Observation:
    """The row for one Channel resource."""
    raw_snippet = channel.get("snippet")
    snippet: dict[str, Any] = raw_snippet if isinstance(raw_snippet, dict) else {}
    statistics = channel.get("statistics")
    custom_url = as_text(snippet.get("customUrl"))
    handle = custom_url if custom_url and custom_url.startswith("@") else None
    account_id = as_text(channel.get("id"))
    title = as_text(snippet.get("title"))
    if not isinstance(statistics, dict):
        return rows.status(
            target, "error", "answer lacks statistics", handle=handle, account_id=account_id
        )
    posts = statistics.get("videoCount")
    if statistics.get("hiddenSubscriberCount") is True:
        return rows.ok(
            target,
            handle=handle,
            account_id=account_id,
            display_name=title,
            followers=None,
            following=None,
            posts=posts,
            status="hidden",
            detail="the channel hides its subscriber count",
            posts_field="statistics.videoCount",
        )
    followers = statistics.get("subscriberCount")
    return rows.ok(
        target,
        handle=handle,
        account_id=account_id,
        display_name=title,
        followers=followers,
        following=None,
        posts=posts,
        followers_field="statistics.subscriberCount",
        posts_field="statistics.videoCount",
    )
