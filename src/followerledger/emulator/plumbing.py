"""What every emulated endpoint does before and after its handler: count, faults, limits."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from followerledger.emulator.faults import Fault
from followerledger.emulator.memory import EmulatorState, Window
from followerledger.emulator.world import platform_api
from followerledger.sources import registry

Handler = Callable[[Request], Awaitable[Response]]
EMULATOR_HEADER = "X-FollowerLedger-Emulator"


def limit_headers(
    platform: str, limit: int, remaining: int, reset_at: datetime, window_seconds: int
) -> dict[str, str]:
    """The platform's own rate-limit headers (see ../shared/contracts): its emulator module's
    `limit_headers(limit, remaining, reset_at, window_seconds)`, else none."""
    own = _module_hook(platform, "limit_headers")
    if own is None:
        return {}
    headers: dict[str, str] = own(limit, remaining, reset_at, window_seconds)
    return headers


def error_body(platform: str, code: int, message: str) -> dict[str, Any]:
    """An error body in the platform's own envelope: its emulator module's
    `error_body(code, message)`, else `{"error": message}`."""
    own = _module_hook(platform, "error_body")
    if own is None:
        return {"error": message}
    body: dict[str, Any] = own(code, message)
    return body


QUOTA_MESSAGE = (
    "The request cannot be completed because you have exceeded your "
    '<a href="/youtube/v3/getting-started#quota">quota</a>.'
)


def quota_exceeded() -> JSONResponse:
    """YouTube's 403 quotaExceeded answer, as returned in the wild (contracts README §4)."""
    return JSONResponse(
        {
            "error": {
                "code": 403,
                "message": QUOTA_MESSAGE,
                "errors": [
                    {"message": QUOTA_MESSAGE, "domain": "youtube.quota", "reason": "quotaExceeded"}
                ],
            }
        },
        status_code=403,
    )


_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def guarded(state: EmulatorState, platform: str, handler: Handler) -> Handler:
    """Wrap a handler with request counting, faults, the rate-limit window and its headers."""

    async def endpoint(request: Request) -> Response:
        state.count(f"{platform}:{request.url.path}")
        answer, taken = await fault_answer(
            state, platform, request, f"{request.url.path}?{request.url.query}"
        )
        if answer is not None:
            return answer
        allowed, window = state.spend(platform)
        headers = _window_headers(platform, window)
        if not allowed:
            return _mark(
                JSONResponse(
                    error_body(platform, 429, _REASONS[429]), status_code=429, headers=headers
                )
            )
        response = await handler(request)
        response.headers.update(headers)
        return finish(response, taken)

    return endpoint


async def fault_answer(
    state: EmulatorState, platform: str, request: Request, asked: str
) -> tuple[Response | None, Fault | None]:
    """Take the fault for one request (`asked`: what tells its repetitions apart) and wait
    its latency: the answer it gives instead of the handler's (None: the handler answers),
    and the fault still to apply to the handler's answer (`truncated`, `partial`).

    A platform's emulator module may answer status and rate-limit faults in its own words
    (`fault_response(state, request, fault)`, returning None to leave it to the default);
    else the answer is built from `error_body` and `limit_headers`."""
    fault, latency = state.faults.take(platform, asked)
    if latency:
        await asyncio.sleep(latency)
    if fault is None:
        return None, None
    if fault.kind == "timeout":
        await asyncio.sleep(fault.seconds)
        return None, None
    if fault.kind in ("truncated", "partial"):
        return None, fault
    if fault.kind == "malformed":
        return (
            _mark(
                Response(
                    "<html><body>502 Bad Gateway</body></html>",
                    status_code=200,
                    media_type="text/html",
                )
            ),
            None,
        )
    if fault.kind == "quota":
        return _mark(quota_exceeded()), None
    own = _module_hook(platform, "fault_response")
    if own is not None:
        answer: Response | None = own(state, request, fault)
        if answer is not None:
            return _mark(answer), None
    if fault.kind == "status":
        reason = _REASONS.get(fault.code, "Error")
        return (
            _mark(JSONResponse(error_body(platform, fault.code, reason), status_code=fault.code)),
            None,
        )
    if fault.kind == "rate_limit":
        now = state.clock()
        window = state.windows.get(platform)
        limit = window.limit if window else 0
        seconds = window.seconds if window else 0
        headers = limit_headers(platform, limit, 0, now + timedelta(seconds=fault.seconds), seconds)
        if platform != "x" and not headers:
            headers = {"Retry-After": str(int(fault.seconds))}
        return (
            _mark(
                JSONResponse(
                    error_body(platform, 429, _REASONS[429]), status_code=429, headers=headers
                )
            ),
            None,
        )
    return None, None


def finish(response: Response, fault: Fault | None = None) -> Response:
    """The handler's answer as sent: cut short when a `truncated` fault took it, marked as
    the emulator's."""
    if fault is not None and fault.kind == "truncated":
        body = bytes(response.body)
        headers = {
            name: value
            for name, value in response.headers.items()
            if name.lower() not in ("content-length", "content-type")
        }
        response = Response(
            body[: max(1, len(body) // 2)],
            status_code=response.status_code,
            media_type="application/json",
            headers=headers,
        )
    return _mark(response)


def _module_hook(platform: str, name: str) -> Callable[..., Any] | None:
    if platform not in registry.names():
        return None
    hook: Callable[..., Any] | None = getattr(platform_api(platform), name, None)
    return hook


def _window_headers(platform: str, window: Window | None) -> dict[str, str]:
    if window is None or window.reset_at is None:
        return {}
    return limit_headers(platform, window.limit, window.remaining, window.reset_at, window.seconds)


def _mark(response: Response) -> Response:
    response.headers[EMULATOR_HEADER] = "1"
    return response
