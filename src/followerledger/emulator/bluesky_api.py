"""Emulated Bluesky AppView: app.bsky.actor.getProfiles and getProfile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from followerledger.emulator import world as w
from followerledger.emulator.memory import EmulatorState
from followerledger.emulator.plumbing import guarded

_ERRORS = {
    "not_found": ("InvalidRequest", "Profile not found"),
    "suspended": ("AccountTakedown", "Account has been suspended"),
    "deactivated": ("AccountDeactivated", "Account is deactivated"),
}


#: When the emulated accounts start growing.
GROWTH_START: Final = datetime(2023, 4, 20, tzinfo=UTC)
#: The rate-limit window (requests, seconds) the emulator enforces, as Bluesky documents it;
#: None where the platform counts quota instead.
LIMIT: Final[tuple[int, int] | None] = (3000, 5 * 60)


def account_id(original: str) -> str:
    """The id Bluesky gives the account first watched as `original`."""
    return w.bluesky_did(original)


def routes(state: EmulatorState) -> list[Route]:
    """The Bluesky routes of one emulator."""

    def resolve(identifier: str) -> w.EmulatedAccount | None:
        now = state.clock()
        if identifier.startswith("did:"):
            original = state.original_for("bluesky", identifier)
            return state.world.by_original("bluesky", original, now) if original else None
        return state.world.lookup("bluesky", identifier, now)

    def profile(account: w.EmulatedAccount) -> dict[str, Any]:
        now = state.clock()
        state.remember("bluesky", account.id, account.original)
        return {
            "did": account.id,
            "handle": account.handle.lower(),
            "displayName": f"{account.handle} (emulated)",
            "followersCount": w.followers_at("bluesky", account.original, now),
            "followsCount": w.following_at("bluesky", account.original, now),
            "postsCount": w.posts_at("bluesky", account.original, now),
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
            account = resolve(identifier)
            if account is not None and account.state == "ok":
                profiles.append(profile(account))
        return JSONResponse({"profiles": profiles})

    async def get_profile(request: Request) -> Response:
        identifier = request.query_params.get("actor")
        if not identifier:
            return invalid('Error: Params must have the property "actor"')
        account = resolve(identifier)
        if account is not None and account.state == "ok":
            return JSONResponse(profile(account))
        name, message = _ERRORS.get(account.state if account else "not_found", _ERRORS["not_found"])
        return JSONResponse({"error": name, "message": message}, status_code=400)

    return [
        Route("/xrpc/app.bsky.actor.getProfiles", guarded(state, "bluesky", get_profiles)),
        Route("/xrpc/app.bsky.actor.getProfile", guarded(state, "bluesky", get_profile)),
    ]


def limit_headers(
    limit: int, remaining: int, reset_at: datetime, window_seconds: int
) -> dict[str, str]:
    """This platform's rate-limit headers (../shared/contracts), for `plumbing`."""
    return {
        "RateLimit-Limit": str(limit),
        "RateLimit-Remaining": str(remaining),
        "RateLimit-Reset": str(int(reset_at.timestamp())),
        "RateLimit-Policy": f"{limit};w={window_seconds}",
    }


def error_body(code: int, message: str) -> dict[str, Any]:
    """An error body in this platform's envelope, for `plumbing`."""
    name = "RateLimitExceeded" if code == 429 else "InternalServerError"
    return {"error": name, "message": message}
