"""Emulated Mastodon: accounts/lookup, accounts/:id, accounts?id[] (4.3+) and v2/instance.

With FOLLOWERLEDGER_MASTODON_API_URL pointing here, this one server answers for every
instance; lookups name the instance in `acct=user@instance`, and ids are unique here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from followerledger.emulator import world as w
from followerledger.emulator.memory import EmulatorState
from followerledger.emulator.plumbing import guarded
from followerledger.sources.mastodon import MULTI_ACCOUNT_VERSION, parse_version

_NOT_FOUND = {"error": "Record not found"}


#: When the emulated accounts start growing.
GROWTH_START: Final = datetime(2017, 4, 1, tzinfo=UTC)
#: The rate-limit window (requests, seconds) the emulator enforces, as Mastodon documents it;
#: None where the platform counts quota instead.
LIMIT: Final[tuple[int, int] | None] = (300, 5 * 60)


def account_id(original: str) -> str:
    """The id Mastodon gives the account first watched as `original`."""
    return w.mastodon_id(original)


def routes(state: EmulatorState) -> list[Route]:
    """The Mastodon routes of one emulator."""

    def entity(account: w.EmulatedAccount) -> dict[str, Any]:
        now = state.clock()
        state.remember("mastodon", account.id, account.original)
        user, _, instance = account.original.lstrip("@").partition("@")
        body: dict[str, Any] = {
            "id": account.id,
            "username": user,
            "acct": user,
            "display_name": f"{user} (emulated)",
            "locked": False,
            "bot": False,
            "discoverable": True,
            "group": False,
            "created_at": "2017-04-01T00:00:00.000Z",
            "note": "",
            "url": f"https://{instance}/@{user}",
            "avatar": f"https://{instance}/avatars/original/missing.png",
            "avatar_static": f"https://{instance}/avatars/original/missing.png",
            "header": f"https://{instance}/headers/original/missing.png",
            "header_static": f"https://{instance}/headers/original/missing.png",
            "followers_count": w.followers_at("mastodon", account.original, now),
            "following_count": w.following_at("mastodon", account.original, now),
            "statuses_count": w.posts_at("mastodon", account.original, now),
            "last_status_at": now.date().isoformat(),
            "emojis": [],
            "fields": [],
        }
        if account.state == "suspended":
            # What the serializer does to a suspended account: blank profile, zero counts.
            body.update(
                {
                    "display_name": "",
                    "followers_count": 0,
                    "following_count": 0,
                    "statuses_count": 0,
                    "last_status_at": None,
                    "suspended": True,
                }
            )
        if account.hidden:
            body["followers_count"] = -1
        if account.moved_to:
            moved_user, _, moved_instance = account.moved_to.partition("@")
            body["moved"] = {
                "id": w.mastodon_id(account.moved_to),
                "username": moved_user,
                "acct": account.moved_to if moved_instance != instance else moved_user,
            }
        return body

    def by_id(value: str) -> w.EmulatedAccount | None:
        original = state.original_for("mastodon", value)
        if original is None:
            return None
        account = state.world.by_original("mastodon", original, state.clock())
        return None if account.state in ("not_found", "deactivated") else account

    async def instance(request: Request) -> Response:
        return JSONResponse(
            {
                "domain": request.url.hostname,
                "title": "Emulated Mastodon",
                "version": state.world.mastodon_version,
            }
        )

    async def lookup(request: Request) -> Response:
        acct = request.query_params.get("acct", "")
        if "@" not in acct.lstrip("@"):
            # Lookups name the instance here: this server answers for every instance.
            return JSONResponse(_NOT_FOUND, status_code=404)
        account = state.world.lookup("mastodon", acct, state.clock())
        if account.state in ("not_found", "deactivated"):
            return JSONResponse(_NOT_FOUND, status_code=404)
        return JSONResponse(entity(account))

    async def account(request: Request) -> Response:
        found = by_id(request.path_params["id"])
        if found is None:
            return JSONResponse(_NOT_FOUND, status_code=404)
        return JSONResponse(entity(found))

    async def accounts(request: Request) -> Response:
        if parse_version(state.world.mastodon_version) < MULTI_ACCOUNT_VERSION:
            return JSONResponse(_NOT_FOUND, status_code=404)
        found = [by_id(value) for value in request.query_params.getlist("id[]")]
        # Only confirmed, approved, unsuspended accounts are returned: fewer than asked.
        return JSONResponse([entity(a) for a in found if a is not None and a.state == "ok"])

    return [
        Route("/api/v1/accounts/lookup", guarded(state, "mastodon", lookup)),
        Route("/api/v1/accounts/{id}", guarded(state, "mastodon", account)),
        Route("/api/v1/accounts", guarded(state, "mastodon", accounts)),
        Route("/api/v2/instance", guarded(state, "mastodon", instance)),
    ]


def limit_headers(
    limit: int, remaining: int, reset_at: datetime, window_seconds: int
) -> dict[str, str]:
    """This platform's rate-limit headers (../shared/contracts), for `plumbing`."""
    iso = reset_at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": iso,
    }
