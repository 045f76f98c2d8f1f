"""Emulated YouTube Data API v3: channels.list by id or forHandle, with a daily quota."""

from __future__ import annotations

from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from followerledger.emulator import world as w
from followerledger.emulator.memory import EmulatorState
from followerledger.emulator.plumbing import guarded, quota_exceeded

_KIND = "youtube#channelListResponse"


#: When the emulated accounts start growing.
GROWTH_START: Final = w.ANCHOR
#: The rate-limit window (requests, seconds) the emulator enforces, as YouTube documents it;
#: None where the platform counts quota instead.
LIMIT: Final[tuple[int, int] | None] = None


def account_id(original: str) -> str:
    """The id YouTube gives the account first watched as `original`."""
    return original if original.startswith("UC") else w.youtube_channel_id(original)


def routes(state: EmulatorState) -> list[Route]:
    """The YouTube routes of one emulator."""

    def channel(account: w.EmulatedAccount, parts: set[str]) -> dict[str, Any]:
        now = state.clock()
        state.remember("youtube", account.id, account.original)
        item: dict[str, Any] = {
            "kind": "youtube#channel",
            "etag": f"etag-{account.id}",
            "id": account.id,
        }
        if "snippet" in parts:
            name = account.handle.lstrip("@")
            item["snippet"] = {
                "title": f"{name} (emulated)",
                "description": "",
                "customUrl": "@" + name.lower() if not account.handle.startswith("UC") else None,
                "publishedAt": "2008-07-01T00:00:00Z",
            }
        if "statistics" in parts:
            statistics: dict[str, Any] = {
                "viewCount": str(w.followers_at("youtube", account.original, now) * 41),
                "hiddenSubscriberCount": account.hidden,
                "videoCount": str(w.posts_at("youtube", account.original, now) // 40),
            }
            if not account.hidden:
                subscribers = w.followers_at("youtube", account.original, now)
                statistics["subscriberCount"] = str(w.round_subscribers(subscribers))
            item["statistics"] = statistics
        return item

    def bad_request(reason: str, message: str) -> JSONResponse:
        return JSONResponse(
            {
                "error": {
                    "code": 400,
                    "message": message,
                    "errors": [
                        {"message": message, "domain": "youtube.parameter", "reason": reason}
                    ],
                }
            },
            status_code=400,
        )

    async def channels(request: Request) -> Response:
        params = request.query_params
        if not params.get("key"):
            return JSONResponse(
                {
                    "error": {
                        "code": 403,
                        "message": "The request is missing a valid API key.",
                        "errors": [
                            {
                                "message": "The request is missing a valid API key.",
                                "domain": "global",
                                "reason": "forbidden",
                            }
                        ],
                        "status": "PERMISSION_DENIED",
                    }
                },
                status_code=403,
            )
        if not state.accepts("youtube", params["key"]):
            return bad_request("keyInvalid", "API key not valid. Please pass a valid API key.")
        if not params.get("part"):
            return bad_request(
                "missingRequiredParameter", "No filter selected. Expected one of: part"
            )
        if not state.spend_youtube_unit():
            return quota_exceeded()
        parts = set(params["part"].split(","))
        now = state.clock()
        found: list[w.EmulatedAccount] = []
        if params.get("forHandle"):
            handle = params["forHandle"]
            account = state.world.lookup(
                "youtube", handle if handle.startswith("@") else "@" + handle, now
            )
            found = [account]
        elif params.get("id"):
            ids = [value for value in params["id"].split(",") if value]
            if len(ids) > 50:
                return bad_request("invalidFilters", "Too many ids (at most 50).")
            for value in ids:
                original = state.original_for("youtube", value) or value
                found.append(state.world.by_original("youtube", original, now))
        else:
            return bad_request(
                "missingRequiredParameter", "No filter selected. Expected one of: id, forHandle, …"
            )
        items = [channel(a, parts) for a in found if a.state == "ok"]
        body: dict[str, Any] = {
            "kind": _KIND,
            "etag": "etag-list",
            "pageInfo": {"totalResults": len(items), "resultsPerPage": max(5, len(items))},
        }
        if items:
            body["items"] = items
        return JSONResponse(body)

    return [Route("/youtube/v3/channels", guarded(state, "youtube", channels))]


def error_body(code: int, message: str) -> dict[str, Any]:
    """An error body in this platform's envelope, for `plumbing`."""
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": "backendError"}],
        }
    }
