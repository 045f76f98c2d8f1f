"""Emulated Threads Profile Discovery: `GET /v1.0/profile_lookup?username=…`.

The documented body (`follower_count` singular, no `id`), for public profiles with at least
1,000 followers; the caller's token in `Authorization: Bearer` or `access_token`.

Choices where the contract is unclear (../shared/contracts/meta/threads, README §8):
- An unknown, ineligible (under 1,000 followers) or unreadable username answers code 100
  (HTTP 400, Graph envelope, no `is_transient`): unverified, the contract documents none.
- Standard access (`EmulatorState(threads_access="standard")`) reads only @meta, @threads,
  @instagram and @facebook; any other username answers code 10 "(#10) Application does not
  have permission for this action" (HTTP 403).
- The 1,000 lookups per rolling 24 hours are per token; past them code 613 "(#613) Calls to
  this api have exceeded the rate limit." (HTTP 403). No usage headers (none documented).
- A missing or wrong token: code 190, "Error validating access token: …" (HTTP 400).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from followerledger.emulator import graph_api
from followerledger.emulator import world as w
from followerledger.emulator.faults import Fault
from followerledger.emulator.memory import EmulatorState
from followerledger.emulator.plumbing import fault_answer, finish
from followerledger.sources.meta_graph import THREADS_API_URL

#: The Threads API version of the emulated path: the one the source's default URL names.
THREADS_VERSION: Final = urlsplit(THREADS_API_URL).path.strip("/")
#: When the emulated accounts start growing (Threads opened in July 2023).
GROWTH_START: Final = datetime(2023, 7, 5, tzinfo=UTC)
#: "A maximum of 1,000 requests within a rolling 24-hour period" per user token.
LIMIT: Final[tuple[int, int] | None] = (1000, 24 * 3600)
ROLLING: Final = True
PER_CREDENTIAL: Final = True
#: What standard access can look up.
STANDARD_ACCESS: Final = frozenset(
    account.removeprefix("@") for account in ("@meta", "@threads", "@instagram", "@facebook")
)
#: "Only returns public profiles with a minimum age of 18 years and at least 1,000 followers."
MIN_FOLLOWERS: Final = 1000
FIELDS: Final = (
    "username",
    "name",
    "profile_picture_url",
    "biography",
    "is_verified",
    "follower_count",
    "likes_count",
    "quotes_count",
    "replies_count",
    "reposts_count",
    "views_count",
)
NOT_ALLOWED: Final = "(#10) Application does not have permission for this action"
THROTTLED: Final = "(#613) Calls to this api have exceeded the rate limit."


def account_id(original: str) -> str:
    """Threads answers no id: an account is its lower-cased username."""
    return w.key_of(original)


def not_found(username: str) -> dict[str, Any]:
    """The (unverified) answer for an unknown or ineligible username: code 100."""
    return graph_api.error(
        100,
        f"(#100) The username '{username}' does not exist or is not an eligible public "
        "profile (public, 18+, at least 1,000 followers)",
    )


def routes(state: EmulatorState) -> list[Route]:
    """The Threads route of one emulator."""

    def profile(account: w.EmulatedAccount, fields: list[str]) -> dict[str, Any]:
        now = state.clock()
        handle = account.handle.lstrip("@").lower()
        week = w.posts_at("threads", account.original, now) // 50 + 1
        values: dict[str, Any] = {
            "username": handle,
            "name": f"{account.handle} (emulated)",
            "profile_picture_url": f"https://scontent.example/threads/{handle}.jpg",
            "biography": "",
            "is_verified": w.unit("threads", handle, "verified") < 0.3,
            "follower_count": w.followers_at("threads", account.original, now),
            "likes_count": week * 40,
            "quotes_count": week,
            "replies_count": week * 3,
            "reposts_count": week * 2,
            "views_count": week * 900,
        }
        body = {field: values[field] for field in fields}
        if account.hidden:
            body.pop("follower_count", None)
        return body

    async def lookup(request: Request) -> Response:
        state.count(f"threads:{request.url.path}")
        answer, taken = await fault_answer(
            state, "threads", request, f"{request.url.path}?{request.url.query}"
        )
        if answer is not None:
            return answer
        return finish(answer_lookup(request), taken)

    def answer_lookup(request: Request) -> JSONResponse:
        token = graph_api.request_token(request)
        if not state.accepts("threads", token):
            return JSONResponse(graph_api.token_error(), status_code=400)
        username = request.query_params.get("username", "")
        if not username:
            return JSONResponse(
                graph_api.error(100, "(#100) The parameter username is required"),
                status_code=400,
            )
        if state.threads_access == "standard" and w.key_of(username) not in STANDARD_ACCESS:
            return JSONResponse(graph_api.error(10, NOT_ALLOWED), status_code=403)
        allowed, _ = state.spend("threads", 1, credential=token)
        if not allowed:
            return JSONResponse(graph_api.error(613, THROTTLED), status_code=403)
        raw = request.query_params.get("fields", "")
        fields = graph_api.split_fields(raw) or list(FIELDS)
        for field in fields:
            if field not in FIELDS:
                return JSONResponse(graph_api.field_error(field, "ThreadsUser"), status_code=400)
        now = state.clock()
        account = state.world.lookup("threads", username, now)
        if (
            account.state != "ok"
            or not graph_api.IG_USERNAME.match(username)
            or w.followers_at("threads", account.original, now) < MIN_FOLLOWERS
        ):
            return JSONResponse(not_found(username), status_code=400)
        return JSONResponse(profile(account, fields))

    return [Route(f"/{THREADS_VERSION}/profile_lookup", lookup)]


def fault_response(state: EmulatorState, request: Request, fault: Fault) -> Response | None:
    """Status faults in the Graph envelope; a rate-limit fault is the lookup cap's 613
    (HTTP 403, no headers: Threads documents none)."""
    if fault.kind == "status":
        if fault.code == 429:
            return JSONResponse(graph_api.error(613, THROTTLED), status_code=429)
        return JSONResponse(graph_api.server_error(fault.code, None), status_code=fault.code)
    if fault.kind == "rate_limit":
        return JSONResponse(graph_api.error(613, THROTTLED), status_code=403)
    return None
