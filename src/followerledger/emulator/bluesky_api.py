"""Emulated Bluesky AppView: app.bsky.actor.getProfiles and getProfile."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from followerledger.emulator import world as w
from followerledger.emulator.plumbing import guarded
from followerledger.emulator.state import EmulatorState

_ERRORS = {
    "not_found": ("InvalidRequest", "Profile not found"),
    "suspended": ("AccountTakedown", "Account has been suspended"),
    "deactivated": ("AccountDeactivated", "Account is deactivated"),
}


def routes(state: EmulatorState) -> list[Route]:
    """The Bluesky routes of one emulator."""

    def resolve(identifier: str) -> str | None:
        if identifier.startswith("did:"):
            return state.handle_for("bluesky", identifier)
        return identifier.lower()

    def profile(handle: str) -> dict[str, Any]:
        now = state.clock()
        did = w.bluesky_did(handle)
        state.remember("bluesky", did, handle)
        return {
            "did": did,
            "handle": handle,
            "displayName": f"{handle} (emulated)",
            "followersCount": w.followers_at("bluesky", handle, now),
            "followsCount": w.following_at("bluesky", handle, now),
            "postsCount": w.posts_at("bluesky", handle, now),
            "indexedAt": now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "createdAt": "2023-04-20T12:00:00.000Z",
            "labels": [],
            "associated": {"lists": 0, "feedgens": 0, "starterPacks": 0, "labeler": False},
        }

    def invalid(message: str) -> JSONResponse:
        return JSONResponse({"error": "InvalidRequest", "message": message}, status_code=400)

    async def get_profiles(request: Request) -> Response:
        actors = request.query_params.getlist("actors")
        if not actors:
            return invalid('Error: Params must have the property "actors"')
        if len(actors) > 25:
            return invalid("Error: actors must not have more than 25 elements")
        profiles = []
        for identifier in actors:
            handle = resolve(identifier)
            if handle and state.world.state("bluesky", handle) == "ok":
                profiles.append(profile(handle))
        return JSONResponse({"profiles": profiles})

    async def get_profile(request: Request) -> Response:
        identifier = request.query_params.get("actor")
        if not identifier:
            return invalid('Error: Params must have the property "actor"')
        handle = resolve(identifier)
        status = state.world.state("bluesky", handle) if handle else "not_found"
        if handle and status == "ok":
            return JSONResponse(profile(handle))
        name, message = _ERRORS.get(status, _ERRORS["not_found"])
        return JSONResponse({"error": name, "message": message}, status_code=400)

    return [
        Route("/xrpc/app.bsky.actor.getProfiles", guarded(state, "bluesky", get_profiles)),
        Route("/xrpc/app.bsky.actor.getProfile", guarded(state, "bluesky", get_profile)),
    ]
