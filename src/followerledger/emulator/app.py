"""The emulator's ASGI app: every platform's routes plus a small control API under /_emulator."""

from __future__ import annotations

import importlib
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from followerledger.emulator.faults import Fault
from followerledger.emulator.memory import EmulatorState
from followerledger.sources.registry import SPECS


def create_app(state: EmulatorState) -> Starlette:
    """The emulator as an ASGI application bound to one state: each platform's routes come
    from the emulator module its spec names (`Platform.emulator`)."""
    apis = {spec.name: importlib.import_module(spec.emulator).routes(state) for spec in SPECS}
    endpoints = {name: [route.path for route in routes] for name, routes in apis.items()}
    mounted = _mounted(apis)

    async def index(request: Request) -> Response:
        return JSONResponse(
            {
                "emulator": "followerledger",
                "endpoints": endpoints,
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
            *mounted,
            Route("/_emulator/faults", faults, methods=["POST", "DELETE"]),
            Route("/_emulator/requests", requests),
            Route("/_emulator/limits", limits, methods=["POST"]),
            Route("/_emulator/reset", reset, methods=["POST"]),
        ]
    )


def _mounted(apis: dict[str, list[Route]]) -> list[Route]:
    """Every platform's routes, each once: platforms that share a host and path (Instagram
    and Facebook on the Graph API) hand out the same route objects. Two different routes on
    one path would shadow each other, so they are refused."""
    mounted: dict[str, Route] = {}
    for name, routes in apis.items():
        for route in routes:
            known = mounted.setdefault(route.path, route)
            if known is not route:
                raise ValueError(f"{name}'s emulator route {route.path} is already mounted")
    return list(mounted.values())
