"""Emulated Meta Graph API (`graph.facebook.com/v25.0`): the one host and path that
Instagram's Business Discovery and Facebook Pages share.

Routes, under the pinned `GRAPH_VERSION`:
- `GET /v25.0/{node}?fields=…`: a Page by id or username, or the caller's own IG user id
  with `fields=business_discovery.username(<target>){…}`;
- `GET /v25.0/?ids=a,b&fields=…`: an object keyed by the ids as sent, each id one call;
- `POST /v25.0/` with `batch=[{method, relative_url}…]` (≤ 50; form, query or JSON body):
  an array in request order of `{"code", "headers", "body": "<JSON string>"}`
  (`include_headers=false` drops `headers`), each entry one call.

Both platforms' emulator modules hand out the same route objects (`routes`), so the app
mounts them once. Which platform a call belongs to is read from the call: one asking for
`business_discovery` or made on an IG user id the state accepts is Instagram's, any other
Facebook's; a request with any Instagram call is counted and faulted as Instagram's.

Choices where the contract is unclear (../shared/contracts/meta, README §5–§7):
- Errors are HTTP 400, except throttles and permission errors (HTTP 403, as client fixtures
  answer code 4) and `status` faults (their own code, body code 1 or 2).
- A missing or wrong token answers 190 (HTTP 400, "Error validating access token: …",
  subcode 467 "Invalid Access Token"); Meta answers a missing one with code 104, which the
  contract does not name.
- Budgets: each platform's own window per token (`LIMIT` of its module, rolling), so
  Instagram's and Facebook's calls do not spend each other's; a throttled call is refused
  without counting. `X-App-Usage` on every answer gives the window of the request's platform
  (`call_count` its share spent, `total_time`/`total_cputime` half of it); Pages answers also
  carry `X-Business-Use-Case-Usage` (type `pages`, keyed by the emulator's business id, with
  `estimated_time_to_regain_access` in minutes). Spent: Instagram code 4, Pages code 32
  (user token) or 80001 (`EmulatorState(facebook_throttle_code=80001)`), HTTP 403, with the
  headers at 100.
- `?ids=` with an unknown or unreadable id fails as a whole with that id's error (the
  contract: plan for the whole request failing).
- The 110/2207013 body takes its English `error_user_*` text; personal, suspended,
  deactivated and missing accounts all answer it; a `hidden` account's body lacks
  `followers_count` (unverified: never observed).
- An unknown Page username answers 803, an unknown or unreadable Page id the recorded
  code-100 body; a node asked for `business_discovery` that is not an accepted IG user id
  answers 803.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
import weakref
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from followerledger.emulator import world as w
from followerledger.emulator.faults import Fault
from followerledger.emulator.memory import EmulatorState, Window
from followerledger.emulator.plumbing import fault_answer, finish
from followerledger.sources.meta_graph import GRAPH_VERSION

#: Meta's maximum calls per batch request.
MAX_BATCH: Final = 50
#: The business the emulated Pages BUC usage is reported under.
BUSINESS_ID: Final = "100000000000001"
PAGE_FIELDS: Final = frozenset({"id", "name", "username", "followers_count", "fan_count", "link"})
IG_FIELDS: Final = frozenset(
    {
        "id",
        "username",
        "name",
        "followers_count",
        "follows_count",
        "media_count",
        "biography",
        "website",
        "profile_picture_url",
    }
)
PAGE_NOT_READABLE: Final = (
    "(#100) Object does not exist, cannot be loaded due to missing permission or reviewable "
    "feature, or does not support this operation. This endpoint requires the "
    "'pages_read_engagement' permission or the 'Page Public Content Access' feature or the "
    "'Page Public Metadata Access' feature. Refer to "
    "https://developers.facebook.com/docs/apps/review/login-permissions#manage-pages, "
    "https://developers.facebook.com/docs/apps/review/feature#reference-PAGES_ACCESS and "
    "https://developers.facebook.com/docs/apps/review/feature#page-public-metadata-access "
    "for details."
)
THROTTLED: Final = {
    4: "(#4) Application request limit reached",
    32: "(#32) Page request limit reached",
    80001: "(#80001) There have been too many calls to this Page account. Wait a bit and try "
    "again. For more info, please refer to "
    "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
}
_BUSINESS_DISCOVERY = re.compile(r"^business_discovery\.username\(([^()]*)\)(?:\{(.*)\})?$", re.S)
#: Instagram (and Threads) usernames: 1-30 letters, digits, '.' or '_', no '.' at either
#: end, no '..'.
IG_USERNAME = re.compile(r"^(?!\.)(?!.*\.\.)(?!.*\.$)[A-Za-z0-9._]{1,30}$")
_PAGE_USERNAME = re.compile(r"^[A-Za-z0-9.]{1,50}$")
_traces = itertools.count()


def fbtrace_id() -> str:
    """A Graph-looking support id (23 characters), different on every answer."""
    digest = hashlib.sha256(f"fbtrace:{next(_traces)}".encode()).digest()
    return "A" + digest.hex()[:22]


def error(
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    transient: bool | None = None,
    user_title: str | None = None,
    user_msg: str | None = None,
    kind: str = "OAuthException",
) -> dict[str, Any]:
    """The Graph error envelope (`is_transient` on Instagram's errors only)."""
    body: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        body["error_subcode"] = subcode
    if transient is not None:
        body["is_transient"] = transient
    if user_title is not None:
        body["error_user_title"] = user_title
    if user_msg is not None:
        body["error_user_msg"] = user_msg
    body["fbtrace_id"] = fbtrace_id()
    return {"error": body}


def token_error() -> dict[str, Any]:
    """What a missing, wrong or expired token gets (code 190)."""
    return error(190, "Error validating access token: The access token is invalid.", subcode=467)


def aliases_error(alias: str) -> dict[str, Any]:
    """Code 803: a node alias (a Page username, or an IG user id) that names nothing."""
    return error(803, f"(#803) Some of the aliases you requested do not exist: {alias}")


def field_error(field: str, node_type: str, transient: bool | None = None) -> dict[str, Any]:
    """Code 100 for a field the node does not have."""
    return error(
        100,
        f"(#100) Tried accessing nonexisting field ({field}) on node type ({node_type})",
        transient=transient,
    )


def user_not_found(username: str) -> dict[str, Any]:
    """Business Discovery's 110/2207013 (missing, personal, age-gated or not readable)."""
    return error(
        110,
        "Invalid user id",
        subcode=2207013,
        transient=False,
        user_title="Cannot find User",
        user_msg=f"The user with username: {username} cannot be found.",
    )


def server_error(status: int, transient: bool | None) -> dict[str, Any]:
    """The body of a 5xx (code 1 for 500, else code 2)."""
    if status == 500:
        return error(1, "An unknown error occurred", transient=transient)
    return error(
        2, "An unexpected error has occurred. Please retry your request later.", transient=transient
    )


def split_fields(raw: str) -> list[str]:
    """A `fields` value split at its top-level commas (field expansions keep theirs)."""
    fields, depth, start = [], 0, 0
    for index, char in enumerate(raw):
        if char in "({":
            depth += 1
        elif char in ")}":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            fields.append(raw[start:index].strip())
            start = index + 1
    fields.append(raw[start:].strip())
    return [field for field in fields if field]


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """One call's answer: its platform, HTTP status, body and usage headers."""

    platform: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class Graph:
    """The Graph calls of one emulator state."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    # Which platform, and the budget.

    def platform_of(self, node: str, fields: str) -> str:
        """Instagram for a Business Discovery call or one on an accepted IG user id."""
        if node in self.state.instagram_user_ids or "business_discovery" in fields:
            return "instagram"
        return "facebook"

    def usage(self, platform: str, token: str, full: bool = False) -> dict[str, str]:
        """The usage headers of an answer on `platform` for `token` (at 100 when `full`)."""
        window = self.state.window(platform, token)
        spent = 100 if full or window is None else window.percent()
        headers = {
            "X-App-Usage": json.dumps(
                {"call_count": spent, "total_time": spent // 2, "total_cputime": spent // 2},
                separators=(",", ":"),
            )
        }
        if platform == "facebook":
            wait = 0
            if window is not None and (full or window.remaining == 0):
                wait = self._minutes_to_room(window)
            headers["X-Business-Use-Case-Usage"] = buc_header(spent, wait)
        return headers

    def _minutes_to_room(self, window: Window) -> int:
        if window.reset_at is None:
            return math.ceil(window.seconds / 60)
        seconds = (window.reset_at - self.state.clock()).total_seconds()
        return max(1, math.ceil(seconds / 60))

    def throttled(self, platform: str) -> dict[str, Any]:
        """The throttle body of a spent budget on `platform`."""
        if platform == "instagram":
            return error(4, THROTTLED[4], transient=True)
        code = self.state.facebook_throttle_code
        return error(code, THROTTLED[code])

    # One call.

    def call(self, node: str, params: Mapping[str, str], token: str) -> Answer:
        """One Graph call on a node (or on `?ids=` when `node` is empty)."""
        fields = params.get("fields", "")
        if not node:
            return self.ids(params, token)
        platform = self.platform_of(node, fields)
        if not self.state.accepts(platform, token):
            return Answer(platform, 400, token_error(), self.usage(platform, token))
        allowed, _ = self.state.spend(platform, 1, credential=token)
        self.state.count(f"{platform}:calls")
        if not allowed:
            return Answer(
                platform, 403, self.throttled(platform), self.usage(platform, token, full=True)
            )
        status, body = self.read(platform, node, fields)
        return Answer(platform, status, body, self.usage(platform, token))

    def ids(self, params: Mapping[str, str], token: str) -> Answer:
        """`?ids=a,b`: each id one call; the whole request fails with its first bad id."""
        fields = params.get("fields", "")
        ids = [value for value in params.get("ids", "").split(",") if value]
        if not ids:
            return Answer(
                "facebook",
                400,
                error(100, "(#100) The parameter ids is required"),
                self.usage("facebook", token),
            )
        platforms = [self.platform_of(value, fields) for value in ids]
        platform = "instagram" if "instagram" in platforms else "facebook"
        if not self.state.accepts(platform, token):
            return Answer(platform, 400, token_error(), self.usage(platform, token))
        if len(ids) > MAX_BATCH:
            return Answer(
                platform,
                400,
                error(100, f"(#100) Too many IDs. Maximum: {MAX_BATCH}. Actual: {len(ids)}"),
                self.usage(platform, token),
            )
        answers: dict[str, Any] = {}
        for value, own in zip(ids, platforms, strict=True):
            allowed, _ = self.state.spend(own, 1, credential=token)
            self.state.count(f"{own}:calls")
            if not allowed:
                return Answer(own, 403, self.throttled(own), self.usage(own, token, full=True))
            status, body = self.read(own, value, fields)
            if status != 200:
                return Answer(own, status, body, self.usage(own, token))
            answers[value] = body
        return Answer(platform, 200, answers, self.usage(platform, token))

    def read(self, platform: str, node: str, fields: str) -> tuple[int, dict[str, Any]]:
        """The status and body of a read the budget allowed."""
        if platform == "instagram":
            return self.instagram_node(node, fields)
        return self.page(node, fields)

    # Instagram: the caller's node, with Business Discovery.

    def instagram_node(self, node: str, fields: str) -> tuple[int, dict[str, Any]]:
        """The caller's IG user node: its own fields and `business_discovery`."""
        if node not in self.state.instagram_user_ids:
            return 400, aliases_error(node)
        body: dict[str, Any] = {}
        for field in split_fields(fields) or ["id"]:
            if field.startswith("business_discovery"):
                match = _BUSINESS_DISCOVERY.match(field)
                if match is None:
                    return 400, error(
                        100,
                        "(#100) business_discovery needs username(<username>), e.g. "
                        "business_discovery.username(bluebottle){followers_count}",
                        transient=False,
                    )
                username, expanded = match.group(1).strip(), match.group(2)
                status, found = self.discover(username, split_fields(expanded or "id"))
                if status != 200:
                    return status, found
                body["business_discovery"] = found
            elif field in IG_FIELDS:
                body[field] = self._ig_fields(self._caller(), [field])[field]
            else:
                return 400, field_error(field, "IGUser", transient=False)
        body["id"] = node
        return 200, body

    def _caller(self) -> w.EmulatedAccount:
        return w.EmulatedAccount("instagram", w.CALLER_USERNAME, w.CALLER_USERNAME, "ok")

    def discover(self, username: str, fields: Sequence[str]) -> tuple[int, dict[str, Any]]:
        """Business Discovery of one target: its fields in the order asked, `id` last when
        not asked for (as Meta's example)."""
        for field in fields:
            if field not in IG_FIELDS:
                return 400, field_error(field, "IGUser", transient=False)
        if not IG_USERNAME.match(username):
            return 400, user_not_found(username)
        account = self.state.world.lookup("instagram", username, self.state.clock())
        if account.state != "ok":
            return 400, user_not_found(username)
        self.state.remember("instagram", account.id, account.original)
        return 200, self._ig_fields(account, fields)

    def _ig_fields(self, account: w.EmulatedAccount, fields: Sequence[str]) -> dict[str, Any]:
        now = self.state.clock()
        handle = account.handle.lstrip("@")
        values: dict[str, Any] = {
            "id": account.id,
            "username": handle.lower(),
            "name": f"{handle} (emulated)",
            "followers_count": w.followers_at("instagram", account.original, now),
            "follows_count": w.following_at("instagram", account.original, now),
            "media_count": w.posts_at("instagram", account.original, now) // 10,
            "biography": "",
            "website": f"https://www.example.com/{handle.lower()}",
            "profile_picture_url": f"https://scontent.example/{account.id}.jpg",
        }
        body = {field: values[field] for field in fields}
        if account.hidden:
            body.pop("followers_count", None)
        body.setdefault("id", account.id)
        return body

    # Facebook Pages.

    def page(self, node: str, fields: str) -> tuple[int, dict[str, Any]]:
        """A Page by numeric id or username, with the fields asked (`id,name` by default)."""
        wanted = split_fields(fields) or ["name", "id"]
        for field in wanted:
            if field not in PAGE_FIELDS:
                return 400, field_error(field, "Page")
        now = self.state.clock()
        if node.isdigit():
            original = self.state.original_for("facebook", node)
            if original is None:
                return 400, error(100, PAGE_NOT_READABLE)
            account = self.state.world.by_original("facebook", original, now)
            if account.state != "ok":
                return 400, error(100, PAGE_NOT_READABLE)
        else:
            if not _PAGE_USERNAME.match(node):
                return 400, aliases_error(node)
            account = self.state.world.lookup("facebook", node, now)
            if account.state == "not_found":
                return 400, aliases_error(node)
            if account.state != "ok":
                return 400, error(100, PAGE_NOT_READABLE)
        self.state.remember("facebook", account.id, account.original)
        followers = w.followers_at("facebook", account.original, now)
        values: dict[str, Any] = {
            "id": account.id,
            "name": f"{account.handle} (emulated)",
            "username": account.handle,
            # New Pages Experience: fan_count returns followers_count.
            "followers_count": followers,
            "fan_count": followers,
            "link": f"https://www.facebook.com/{account.handle}",
        }
        body = {field: values[field] for field in wanted}
        if account.hidden:
            body.pop("followers_count", None)
            body.pop("fan_count", None)
        body.setdefault("id", account.id)
        return 200, body


def buc_header(spent: int, wait_minutes: int) -> str:
    """`X-Business-Use-Case-Usage` for Pages calls."""
    return json.dumps(
        {
            BUSINESS_ID: [
                {
                    "type": "pages",
                    "call_count": spent,
                    "total_cputime": spent // 2,
                    "total_time": spent // 2,
                    "estimated_time_to_regain_access": wait_minutes,
                }
            ]
        },
        separators=(",", ":"),
    )


def request_token(request: Request, form: Mapping[str, str] | None = None) -> str:
    """The access token of a request: `Authorization: Bearer|OAuth <token>`, else the
    `access_token` parameter (query or form)."""
    header = request.headers.get("authorization", "")
    for scheme in ("Bearer ", "OAuth "):
        if header.startswith(scheme):
            return header.removeprefix(scheme).strip()
    if form and form.get("access_token"):
        return form["access_token"]
    return request.query_params.get("access_token", "")


def json_answer(answer: Answer) -> Response:
    """An answer as its HTTP response."""
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


def _entry(answer: Answer | None, include_headers: bool) -> dict[str, Any] | None:
    if answer is None:
        return None
    entry: dict[str, Any] = {"code": answer.status}
    if include_headers:
        headers = [{"name": "Content-Type", "value": "text/javascript; charset=UTF-8"}]
        if answer.status != 200:
            message = answer.body.get("error", {}).get("message", "")
            headers.insert(
                0,
                {
                    "name": "WWW-Authenticate",
                    "value": f'OAuth "Facebook Platform" "invalid_request" "{message}"',
                },
            )
        entry["headers"] = headers
    entry["body"] = json.dumps(answer.body, separators=(",", ":"))
    return entry


def relative_call(relative_url: str) -> tuple[str, dict[str, str]]:
    """The node and parameters of a batch entry's `relative_url` (an optional leading `/`
    and version segment dropped)."""
    parts = urlsplit(relative_url)
    path = parts.path.strip("/")
    if re.match(r"^v[0-9]+\.[0-9]+(/|$)", path):
        path = path.partition("/")[2]
    return path, dict(parse_qsl(parts.query, keep_blank_values=True))


async def _form(request: Request) -> tuple[dict[str, str], Any]:
    """The POST's parameters (query, then form or JSON body) and its `batch` value."""
    params = dict(request.query_params)
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json") and raw:
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            params.update({k: v for k, v in payload.items() if isinstance(v, str)})
            if "batch" in payload and not isinstance(payload["batch"], str):
                return params, payload["batch"]
        elif isinstance(payload, list):
            return params, payload
    else:
        params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    batch = params.get("batch")
    if batch is None:
        return params, None
    try:
        return params, json.loads(batch)
    except ValueError:
        return params, "invalid"


_ROUTES: weakref.WeakKeyDictionary[EmulatorState, list[Route]] = weakref.WeakKeyDictionary()


def routes(state: EmulatorState) -> list[Route]:
    """The Graph routes of one emulator: the same objects for every caller with that state
    (Instagram's and Facebook's modules both hand them out; the app mounts them once)."""
    if state not in _ROUTES:
        _ROUTES[state] = _build(state)
    return _ROUTES[state]


def _build(state: EmulatorState) -> list[Route]:
    graph = Graph(state)
    root = f"/{GRAPH_VERSION}/"

    async def node(request: Request) -> Response:
        name = request.path_params["node"]
        params = dict(request.query_params)
        platform = graph.platform_of(name, params.get("fields", ""))
        state.count(f"{platform}:/{GRAPH_VERSION}/{{node}}")
        answer, taken = await fault_answer(
            state, platform, request, f"{request.url.path}?{request.url.query}"
        )
        if answer is not None:
            return answer
        return finish(json_answer(graph.call(name, params, request_token(request))), taken)

    async def top(request: Request) -> Response:
        if request.method == "GET":
            params = dict(request.query_params)
            fields = params.get("fields", "")
            ids = [value for value in params.get("ids", "").split(",") if value]
            platform = (
                "instagram"
                if any(graph.platform_of(i, fields) == "instagram" for i in ids)
                else "facebook"
            )
            state.count(f"{platform}:{root}")
            answer, taken = await fault_answer(
                state, platform, request, f"{request.url.path}?{request.url.query}"
            )
            if answer is not None:
                return answer
            return finish(json_answer(graph.ids(params, request_token(request))), taken)
        return await batch(request)

    async def batch(request: Request) -> Response:
        params, entries = await _form(request)
        token = request_token(request, params)
        calls: list[tuple[str, dict[str, str]] | None] = []
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict) and isinstance(entry.get("relative_url"), str):
                    calls.append(relative_call(entry["relative_url"]))
                else:
                    calls.append(None)
        platform = (
            "instagram"
            if any(
                c and graph.platform_of(c[0], c[1].get("fields", "")) == "instagram" for c in calls
            )
            else "facebook"
        )
        state.count(f"{platform}:{root}")
        digest = hashlib.sha256(json.dumps(entries, sort_keys=True).encode()).hexdigest()[:16]
        answer, taken = await fault_answer(
            state, platform, request, f"{request.url.path}?{request.url.query}#{digest}"
        )
        if answer is not None:
            return answer
        usage = graph.usage(platform, token)
        if not state.accepts(platform, token):
            return finish(JSONResponse(token_error(), status_code=400, headers=usage), taken)
        if not isinstance(entries, list) or not entries:
            return finish(
                JSONResponse(
                    error(100, "(#100) The parameter batch is required and must be a JSON array"),
                    status_code=400,
                    headers=usage,
                ),
                taken,
            )
        if len(entries) > MAX_BATCH:
            return finish(
                JSONResponse(
                    error(
                        100,
                        f"(#100) Too many requests in batch message. Maximum batch size is "
                        f"{MAX_BATCH}",
                    ),
                    status_code=400,
                    headers=usage,
                ),
                taken,
            )
        include_headers = params.get("include_headers", "true").lower() != "false"
        results: list[dict[str, Any] | None] = []
        for entry, call in zip(entries, calls, strict=True):
            if call is None or str(entry.get("method", "GET")).upper() != "GET":
                bad = Answer(
                    platform,
                    400,
                    error(100, "(#100) Unsupported batch operation: only GET calls are emulated"),
                    {},
                )
                results.append(_entry(bad, include_headers))
                continue
            path, query = call
            own_token = query.pop("access_token", "") or token
            results.append(_entry(graph.call(path, query, own_token), include_headers))
        if taken is not None and taken.kind == "partial":
            # A batch that timed out part-way: the later calls have no answer (and were not
            # made, but counted: Meta does not say, and a source must send them again).
            half = len(results) // 2
            results[half:] = [None] * (len(results) - half)
        headers = graph.usage(platform, token)
        return finish(JSONResponse(results, headers=headers), taken)

    return [
        Route(f"/{GRAPH_VERSION}", top, methods=["GET", "POST"]),
        Route(root, top, methods=["GET", "POST"]),
        Route(f"/{GRAPH_VERSION}/{{node}}", node, methods=["GET"]),
    ]


def fault_response(
    state: EmulatorState, platform: str, fault: Fault, *, headers: dict[str, str]
) -> Response | None:
    """A Graph platform's answer to a status or rate-limit fault: the Graph envelope, and
    for a rate limit the throttle body with the usage headers at 100 (not a 429)."""
    transient = True if platform == "instagram" else None
    if fault.kind == "status":
        if fault.code == 429:
            body = Graph(state).throttled(platform)
            return JSONResponse(body, status_code=429, headers=headers)
        return JSONResponse(server_error(fault.code, transient), status_code=fault.code)
    if fault.kind == "rate_limit":
        body = Graph(state).throttled(platform)
        return JSONResponse(body, status_code=403, headers=headers)
    return None


def full_usage(platform: str, fault: Fault) -> dict[str, str]:
    """The usage headers of a throttled answer to a fault, at 100 (the BUC wait: the
    fault's seconds, in minutes)."""
    headers = {
        "X-App-Usage": json.dumps(
            {"call_count": 100, "total_time": 50, "total_cputime": 50}, separators=(",", ":")
        )
    }
    if platform == "facebook":
        headers["X-Business-Use-Case-Usage"] = buc_header(
            100, max(1, math.ceil(fault.seconds / 60))
        )
    return headers
