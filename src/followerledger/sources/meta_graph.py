"""What Instagram, Facebook Pages and Threads share: Meta's Graph API.

Contract: ../shared/contracts/meta (graph-api-{errors,rate-limits,batch-and-multi-id,
versioning}.md). The Graph version is pinned once here (`GRAPH_VERSION`): Meta silently
serves an expired version as the next oldest one, so the version is always in the path.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final, Literal

import requests

from followerledger.observation import Observation
from followerledger.sources.base import ApiSource, RowFactory, Target, Usage
from followerledger.sources.http import ApiClient, Budget, RateLimited, RequestFailed, Throttled
from followerledger.sources.platform import Connect, Credential, Platform, RatePolicy

if TYPE_CHECKING:
    from followerledger.settings import Settings

#: The Graph API version every Facebook and Instagram call names (usable until 2028-07-29).
GRAPH_VERSION: Final = "v25.0"
GRAPH_API_URL: Final = f"https://graph.facebook.com/{GRAPH_VERSION}"
THREADS_API_URL: Final = "https://graph.threads.net/v1.0"

#: One Facebook user (or system-user) token read by both Instagram and Facebook Pages.
META_TOKEN: Final = Credential(
    "meta_access_token",
    "META_ACCESS_TOKEN",
    "followerledger-meta-access-token",
    "put a Facebook user access token (instagram_basic, instagram_manage_insights, "
    "pages_read_engagement; for other Pages, Page Public Content or Metadata Access)",
    "meta_access_tokens",
    "META_ACCESS_TOKENS",
)


#: The one budget of META_ACCESS_TOKEN, shared by Instagram and Facebook: the same policy
#: name (per credential `meta-2`, ...) makes the process throttle and the Prefect limit one.
#: 200 calls per hour is the only figure Meta gives (the user's Platform rate limit).
META_POLICY: Final = RatePolicy("meta", 200, 3600)


@dataclasses.dataclass(frozen=True, slots=True)
class GraphError:
    """Meta's error envelope `{"error": {...}}`: classified by `code` (and `subcode`), never
    by text, since the `error_user_*` texts are localized to the token owner."""

    code: int | None
    subcode: int | None = None
    message: str | None = None
    type: str | None = None
    is_transient: bool | None = None
    fbtrace_id: str | None = None

    @property
    def kind(self) -> ErrorKind:
        """What the code means for the run (see `ErrorKind`)."""
        if self.code in TOKEN_CODES:
            return "token"
        if self.code in PERMISSION_CODES:
            return "permission"
        if self.code in THROTTLE_CODES:
            return "throttle"
        return "other"

    def text(self) -> str:
        """`code 110/2207013: Invalid user id` (Meta's `message`, not the localized one)."""
        code = "code ?" if self.code is None else f"code {self.code}"
        if self.subcode is not None:
            code += f"/{self.subcode}"
        return f"{code}: {self.message}" if self.message else code


#: token: re-authenticate (the platform stops); permission: the app or token lacks access
#: (the platform stops); throttle: wait and send again; other: this call's own answer.
ErrorKind = Literal["token", "permission", "throttle", "other"]

TOKEN_CODES: Final = frozenset({190, 102})
PERMISSION_CODES: Final = frozenset({10, *range(200, 300)})
#: 4 app, 17 user, 32 Pages, 613 custom, 341 app limit; 80000-80014 business use cases.
THROTTLE_CODES: Final = frozenset({4, 17, 32, 341, 613, *range(80000, 80015)})


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def graph_error(body: Any) -> GraphError | None:
    """The error of a Graph answer's body, or None when it carries none."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return None
    error = body["error"]
    transient = error.get("is_transient")
    return GraphError(
        code=_int(error.get("code")),
        subcode=_int(error.get("error_subcode")),
        message=_str(error.get("message")),
        type=_str(error.get("type")),
        is_transient=transient if isinstance(transient, bool) else None,
        fbtrace_id=_str(error.get("fbtrace_id")),
    )


# --- pacing -------------------------------------------------------------------------------

#: Usage (a percentage of the app's or business's budget) at which no call is sent.
STOP_AT: Final = 95
#: X-App-Usage announces no reset: its window is a rolling hour, so that is what is waited.
APP_WINDOW: Final = 3600.0
#: A throttle code answered without a BUC estimate: Meta gives no reset, the window is a
#: rolling hour, and "continuing to make calls will continue to increase your call count",
#: so the whole hour is waited (beyond FOLLOWERLEDGER_MAX_RATE_LIMIT_WAIT: `RateLimited`,
#: and nothing more is sent).
THROTTLE_WAIT: Final = APP_WINDOW
#: A regain estimate is believed up to a day (BUC windows are 24 hours); beyond, a day.
LONGEST_REGAIN: Final = 86400.0
_USAGE_KEYS: Final = ("call_count", "total_cputime", "total_time")


def _header_json(headers: Mapping[str, str], name: str) -> Any:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _percent(entry: Any) -> float | None:
    if not isinstance(entry, dict):
        return None
    values = [float(entry[key]) for key in _USAGE_KEYS if _number(entry.get(key))]
    return max(values) if values else None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any) -> bool:
    return _number(value) and value > 0


def read_usage(headers: Mapping[str, str]) -> Budget | None:
    """The budget Meta's usage headers describe: `remaining` is the percentage points left
    before `STOP_AT` (no `limit`: Meta gives no count).

    `X-App-Usage` (the app's rolling hour) and `X-Business-Use-Case-Usage` (per business
    object, with `estimated_time_to_regain_access` in minutes) are read; the highest usage
    counts. At `STOP_AT` % or more no budget is left: the reset is the BUC estimate when one
    is given, else a whole `APP_WINDOW`. Headers absent (Meta sends them only "once enough
    calls have been made") or unreadable: None, an unknown budget, not 0 % used.
    """
    usages: list[float] = []
    regain: list[float] = []
    app = _percent(_header_json(headers, "x-app-usage"))
    if app is not None:
        usages.append(app)
    business = _header_json(headers, "x-business-use-case-usage")
    if isinstance(business, dict):
        for entries in business.values():
            for entry in entries if isinstance(entries, list) else [entries]:
                used = _percent(entry)
                if used is not None:
                    usages.append(used)
                if isinstance(entry, dict) and _positive(
                    minutes := entry.get("estimated_time_to_regain_access")
                ):
                    regain.append(min(float(minutes or 0) * 60, LONGEST_REGAIN))
    if not usages and not regain:
        return None
    used = max(usages, default=0.0)
    # No limit in requests: the headers give percentages, not a count.
    if regain:
        return Budget(None, 0, None, max(regain))
    if used >= STOP_AT:
        return Budget(None, 0, None, APP_WINDOW)
    return Budget(None, max(0, int(STOP_AT - used)), None)


def _decoded(content: bytes | str) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def throttled(response: requests.Response) -> Throttled | None:
    """A Graph answer carrying a throttle code, whatever its HTTP status (Meta documents none;
    400 and 403 are seen). Throttled entries of a 200 batch answer are not: `send_batch`
    keeps the entries that succeeded and sends only the throttled ones again."""
    error = graph_error(_decoded(response.content))
    if error is not None and error.kind == "throttle":
        return Throttled(f"throttled (Graph error code {error.code})", THROTTLE_WAIT)
    return None


# --- batches ------------------------------------------------------------------------------


def entry_body(entry: Any) -> str | None:
    """The JSON-string `body` of one Graph batch entry (None when absent)."""
    if isinstance(entry, dict) and isinstance(entry.get("body"), str):
        return str(entry["body"])
    return None


def batch_form(relative_urls: Sequence[str]) -> dict[str, str]:
    """The form of a Graph batch POST of GET calls, without the per-entry headers."""
    calls = [{"method": "GET", "relative_url": url} for url in relative_urls]
    return {"batch": json.dumps(calls, separators=(",", ":")), "include_headers": "false"}


def batch_problem(body: Any) -> str | None:
    """What keeps a 200 answer of a Graph batch from being read, or None."""
    if not isinstance(body, list):
        return "a batch answer is not a JSON list"
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One call's answer in a batch: its HTTP `code` and decoded `body` (None: the batch
    timed out before it, and Meta left it null)."""

    code: int | None
    body: Any
    #: What happened when it was sent again and failed (None: its own answer says it all).
    detail: str | None = None

    @property
    def missing(self) -> bool:
        """Whether Meta left the entry null (or gave no answer for it)."""
        return self.code is None


def batch_entries(body: list[Any], count: int) -> list[Entry]:
    """The `count` entries of a batch answer, in request order; missing ones are null."""
    entries = []
    for index in range(count):
        raw = body[index] if index < len(body) else None
        if not isinstance(raw, dict):
            entries.append(Entry(None, None))
            continue
        text = entry_body(raw)
        entries.append(Entry(_int(raw.get("code")), _decoded(text) if text is not None else None))
    return entries


# --- stopping a platform ------------------------------------------------------------------


class Stop:
    """The one reason a source sends no further request this run (a rejected token, missing
    permission, a wrong own id), shared by its batches across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._detail: str | None = None

    @property
    def detail(self) -> str | None:
        """Why the source stopped, or None while it runs."""
        with self._lock:
            return self._detail

    def stop(self, detail: str) -> str:
        """Stop (the first reason stays) and return the reason kept."""
        with self._lock:
            if self._detail is None:
                self._detail = detail
            return self._detail


def token_detail(platform: str, error: GraphError, variable: str) -> str:
    """The row detail once Meta refused the token."""
    return (
        f"{platform} rejected the access token ({error.text()}): put a valid token in "
        f"{variable} (long-lived tokens last 60 days); no more {platform} requests this run"
    )


def permission_detail(platform: str, error: GraphError, needed: str) -> str:
    """The row detail once Meta said the app or token lacks access."""
    return (
        f"{platform} refused for lack of access ({error.text()}): {needed}; "
        f"no more {platform} requests this run"
    )


#: Graph codes of a passing failure ("API Unknown", "API Service"), sent again once.
TRANSIENT_CODES: Final = frozenset({1, 2})


def _retryable(entry: Entry) -> bool:
    if entry.missing:
        return True
    if entry.code is not None and entry.code >= 500:
        return True
    error = graph_error(entry.body)
    return error is not None and (error.is_transient is True or error.code in TRANSIENT_CODES)


@dataclasses.dataclass(frozen=True, slots=True)
class BatchAnswer:
    """A Graph batch's entries in request order, or why the whole POST failed (`failure`,
    with Meta's `error` when its body had one)."""

    entries: list[Entry]
    failure: str | None = None
    error: GraphError | None = None
    #: The failed POST's HTTP status.
    status: int | None = None


def _throttled_entry(entry: Entry) -> bool:
    error = graph_error(entry.body)
    return error is not None and error.kind == "throttle"


def send_batch(client: ApiClient, relative_urls: Sequence[str]) -> BatchAnswer:
    """POST the calls as one Graph batch (each counted one call against the budget).

    Entries Meta left null (the batch timed out before them) or answered with a passing
    failure (5xx, `is_transient`, codes 1 and 2) are sent once more, in a batch of their
    own; permanent errors never are. Throttled entries are sent again, alone, after the
    client waited `THROTTLE_WAIT` (or the usage headers' reset), as many times as the
    client's `attempts`; the entries that succeeded are kept. When the wait is longer than
    the client may wait, or a later POST fails, only the entries sent again become error
    entries saying so (a failed POST's Graph error is theirs, so a 190 or 10 stops the
    platform). A throttle answer to the whole POST is waited by the client (`throttled`)."""
    answer = _post_batch(client, relative_urls)
    if answer.failure is not None:
        return answer
    entries = answer.entries
    retried: set[int] = set()
    for _ in range(client.attempts):
        throttled_now = [index for index, entry in enumerate(entries) if _throttled_entry(entry)]
        passing = [
            index
            for index, entry in enumerate(entries)
            if index not in retried and _retryable(entry)
        ]
        again = sorted({*throttled_now, *passing})
        if not again:
            break
        retried.update(passing)
        if throttled_now:
            client.hold(THROTTLE_WAIT)
        try:
            second = _post_batch(client, [relative_urls[index] for index in again])
        except (RateLimited, RequestFailed) as error:
            # RateLimited is raised before sending; RequestFailed after every try failed.
            done = "not sent again" if isinstance(error, RateLimited) else "sent again, no answer"
            for index in again:
                entries[index] = dataclasses.replace(entries[index], detail=f"{done}: {error}")
            return BatchAnswer(entries)
        if second.failure is not None:
            body = {"error": dataclasses.asdict(second.error)} if second.error else None
            if body is not None:
                body["error"]["error_subcode"] = body["error"].pop("subcode")
            for index in again:
                entries[index] = Entry(
                    second.status, body, f"sent again, the batch failed: {second.failure}"
                )
            return BatchAnswer(entries)
        for index, entry in zip(again, second.entries, strict=True):
            entries[index] = entry
    return BatchAnswer(entries)


def _post_batch(client: ApiClient, relative_urls: Sequence[str]) -> BatchAnswer:
    response = client.post(
        "/", batch_form(relative_urls), shape=batch_problem, cost=len(relative_urls)
    )
    body = _decoded(response.content)
    if response.status_code != 200:
        error = graph_error(body)
        said = error.text() if error is not None else "no Graph error in the body"
        return BatchAnswer([], f"HTTP {response.status_code}: {said}", error, response.status_code)
    return BatchAnswer(batch_entries(body, len(relative_urls)))


def entry_text(entry: Entry) -> str:
    """A one-line description of a failed batch entry."""
    if entry.detail is not None:
        return entry.detail
    if entry.missing:
        return "the Graph batch timed out before this call, also when sent again"
    error = graph_error(entry.body)
    said = error.text() if error is not None else "no Graph error in the body"
    return f"HTTP {entry.code}: {said}"


#: The detail of a `hidden` row: a 200 answer without the follower count asked for.
HIDDEN: Final = "the answer has no followers_count"


class GraphBatchSource(ApiSource):
    """A source whose calls ride in Graph batches (Instagram, Facebook): one batch POST per
    request batch, a row per entry, and the platform stopped for the run by a rejected token,
    missing permission (`needed` says which) or an error of its own (`_stops_for`).

    A subclass gives the call of a target (`relative_url`), the row of a 200 entry
    (`_parse`), and what any other entry's error means (`_entry_failed`)."""

    #: The access the token needs, as `permission_detail` names it.
    needed: ClassVar[str]

    def __init__(self, client: ApiClient, credential: str | None = None) -> None:
        super().__init__(client, credential)
        self.stop = Stop()

    def usage(self) -> Usage:
        """HTTP requests, and Graph calls (each batch entry counts one) as quota units."""
        return Usage(self.client.requests_made, self.client.calls_made)

    def relative_url(self, target: Target) -> str:
        """The Graph call for one target, relative to the Graph version."""
        raise NotImplementedError

    def _parse(self, body: Any, target: Target, rows: RowFactory) -> Observation:
        raise NotImplementedError

    def _stops_for(self, error: GraphError) -> str | None:
        """The platform's own reason to stop after `error` (None: it does not stop)."""
        return None

    def _entry_failed(
        self, target: Target, entry: Entry, error: GraphError | None, rows: RowFactory
    ) -> Observation:
        """The row of an entry that failed without stopping the platform."""
        return rows.status(target, "error", entry_text(entry))

    def _fetch(self, batch: Sequence[Target], make: Callable[[], RowFactory]) -> list[Observation]:
        stopped = self.stop.detail
        if stopped is None:
            answer = send_batch(self.client, [self.relative_url(target) for target in batch])
            rows = make()
            if answer.failure is None:
                return self._rows(batch, answer.entries, rows)
            stopped = self._stops(answer.error)
            if stopped is None:
                return [rows.status(target, "error", answer.failure) for target in batch]
        rows = make()
        return [rows.status(target, "error", stopped) for target in batch]

    def _stops(self, error: GraphError | None) -> str | None:
        """The reason the platform stops after this error (kept once), or None."""
        if error is None:
            return None
        label = self.spec.label
        if error.kind == "token":
            detail = token_detail(label, error, self.credential or META_TOKEN.variable)
        elif error.kind == "permission":
            detail = permission_detail(label, error, self.needed)
        else:
            own = self._stops_for(error)
            if own is None:
                return None
            detail = own
        return self.stop.stop(detail)

    def _rows(
        self, batch: Sequence[Target], entries: Sequence[Entry], rows: RowFactory
    ) -> list[Observation]:
        result = []
        for target, entry in zip(batch, entries, strict=True):
            if entry.code == 200:
                result.append(self._parse(entry.body, target, rows))
                continue
            error = graph_error(entry.body)
            stopped = self._stops(error)
            if stopped is not None:
                result.append(rows.status(target, "error", stopped))
            else:
                result.append(self._entry_failed(target, entry, error, rows))
        return result


def bearer_client(
    spec: Platform, settings: Settings, connect: Connect, url: str
) -> tuple[ApiClient, str]:
    """A client of `spec` at `url` sending the credential's token as `Authorization: Bearer`
    (never in a URL), paced by that credential's budget; and the credential's label."""
    assert connect.credential is not None
    token = connect.credential.secret
    session = connect.session({"Authorization": f"Bearer {token}"})
    policy = spec.rate_policy(budgets=settings.budgets, credential=connect.index)
    return connect.client(url, session, policy, [token]), connect.credential.label
