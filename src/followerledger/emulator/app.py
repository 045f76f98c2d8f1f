"""The emulator's ASGI app: every platform's routes plus a small control API under /_emulator."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from followerledger.emulator import bluesky_api, mastodon_api, x_api, youtube_api
from followerledger.emulator.faults import Fault
from followerledger.emulator.memory import EmulatorState

ENDPOINTS = {
    "x": ["/2/users/by", "/2/users"],
    "bluesky": ["/xrpc/app.bsky.actor.getProfiles", "/xrpc/app.bsky.actor.getProfile"],
    "mastodon": [
        "/api/v1/accounts/lookup",
        "/api/v1/accounts/{id}",
        "/api/v1/accounts",
        "/api/v2/instance",
    ],
    "youtube": ["/youtube/v3/channels"],
}


def create_app(state: EmulatorState) -> Starlette:
    """The emulator as an ASGI application bound to one state."""

    async def index(request: Request) -> Response:
        return JSONResponse(
            {
                "emulator": "followerledger",
                "endpoints": ENDPOINTS,
                "control": [
                    "/_emulator/faults",
                    "/_emulator/requests",
                    "/_emulator/limits",
                    "/_emulator/reset",
                ],
            }
        )

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults.clear()
            return Response(status_code=204)
        payload: dict[str, Any] = await request.json()
        try:
            state.faults.add(Fault(**payload))
        except (TypeError, ValueError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse(payload, status_code=201)

    async def limits(request: Request) -> Response:
        payload: dict[str, Any] = await request.json()
        try:
            platform, limit, seconds = (
                payload["platform"],
                int(payload["limit"]),
                int(payload["seconds"]),
            )
        except (KeyError, TypeError, ValueError):
            return JSONResponse({"error": "expected platform, limit and seconds"}, status_code=400)
        state.set_limit(platform, limit, seconds)
        return JSONResponse(payload, status_code=200)

    async def requests(request: Request) -> Response:
        return JSONResponse(dict(state.requests))

    async def reset(request: Request) -> Response:
        state.reset()
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/", index),
            *x_api.routes(state),
            *bluesky_api.routes(state),
            *mastodon_api.routes(state),
            *youtube_api.routes(state),
            Route("/_emulator/faults", faults, methods=["POST", "DELETE"]),
            Route("/_emulator/requests", requests),
            Route("/_emulator/limits", limits, methods=["POST"]),
            Route("/_emulator/reset", reset, methods=["POST"]),
        ]
    )
