"""Emulated X API v2 user lookup: /2/users/by and /2/users, in the official shapes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from followerledger.emulator import world as w
from followerledger.emulator.memory import EmulatorState
from followerledger.emulator.plumbing import guarded

_USERNAME = re.compile(r"^[A-Za-z0-9_]{1,15}$")
_USER_ID = re.compile(r"^[0-9]{1,19}$")
_PROBLEMS = "https://api.twitter.com/2/problems"


#: When the emulated accounts start growing.
GROWTH_START: Final = w.ANCHOR
#: The rate-limit window (requests, seconds) the emulator enforces, as X documents it;
#: None where the platform counts quota instead.
LIMIT: Final[tuple[int, int] | None] = (300, 15 * 60)


def account_id(original: str) -> str:
    """The id X gives the account first watched as `original`."""
    return w.x_user_id(original)


def _invalid(parameter: str, raw: str, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "errors": [{"parameters": {parameter: [raw]}, "message": message}],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": f"{_PROBLEMS}/invalid-request",
        },
        status_code=400,
    )


def _problem(parameter: str, value: str, state: str) -> dict[str, Any]:
    if state == "suspended":
        return {
            "parameter": parameter,
            "resource_id": value,
            "value": value,
            "detail": f"User has been suspended: [{value}].",
            "title": "Forbidden",
            "resource_type": "user",
            "type": f"{_PROBLEMS}/resource-not-found",
        }
    noun = "usernames" if parameter == "usernames" else "ids"
    return {
        "value": value,
        "detail": f"Could not find user with {noun}: [{value}].",
        "title": "Not Found Error",
        "resource_type": "user",
        "parameter": parameter,
        "resource_id": value,
        "type": f"{_PROBLEMS}/resource-not-found",
    }


def routes(state: EmulatorState) -> list[Route]:
    """The X routes of one emulator."""

    def user(account: w.EmulatedAccount, fields: set[str]) -> dict[str, Any]:
        now = state.clock()
        state.remember("x", account.id, account.original)
        body: dict[str, Any] = {
            "id": account.id,
            "name": f"{account.handle} (emulated)",
            "username": account.handle,
        }
        if "public_metrics" in fields:
            followers = w.followers_at("x", account.original, now)
            body["public_metrics"] = {
                "followers_count": followers,
                "following_count": w.following_at("x", account.original, now),
                state.x_post_metric: w.posts_at("x", account.original, now),
                "listed_count": followers // 200,
            }
        return body

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ")
        if token == header or not token:
            return False
        return state.accepts("x", token)

    def unauthorized() -> JSONResponse:
        return JSONResponse(
            {
                "title": "Unauthorized",
                "type": "about:blank",
                "status": 401,
                "detail": "Unauthorized",
            },
            status_code=401,
        )

    def answer(
        parameter: str,
        values: list[str],
        accounts: list[w.EmulatedAccount | None],
        fields: set[str],
    ) -> JSONResponse:
        data, errors = [], []
        for value, account in zip(values, accounts, strict=True):
            if account is not None and account.state == "ok":
                data.append(user(account, fields))
            else:
                errors.append(_problem(parameter, value, account.state if account else "not_found"))
        body: dict[str, Any] = {}
        if data:
            body["data"] = data
        if errors:
            body["errors"] = errors
        return JSONResponse(body)

    async def users_by(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        raw = request.query_params.get("usernames", "")
        names = [name for name in raw.split(",") if name]
        if not 1 <= len(names) <= 100:
            return _invalid("usernames", raw, f"size [{len(names)}] is not between 1 and 100")
        for name in names:
            if not _USERNAME.match(name):
                return _invalid(
                    "usernames",
                    raw,
                    f"The `usernames` query parameter value "
                    f"[{name}] does not match ^[A-Za-z0-9_]{{1,15}}$",
                )
        fields = set(request.query_params.get("user.fields", "").split(","))
        now = state.clock()
        return answer(
            "usernames", names, [state.world.lookup("x", name, now) for name in names], fields
        )

    async def users_by_ids(request: Request) -> Response:
        if not authorized(request):
            return unauthorized()
        raw = request.query_params.get("ids", "")
        ids = [value for value in raw.split(",") if value]
        if not 1 <= len(ids) <= 100:
            return _invalid("ids", raw, f"size [{len(ids)}] is not between 1 and 100")
        for value in ids:
            if not _USER_ID.match(value):
                return _invalid(
                    "ids",
                    raw,
                    f"The `ids` query parameter value [{value}] does not match ^[0-9]{{1,19}}$",
                )
        fields = set(request.query_params.get("user.fields", "").split(","))
        now = state.clock()
        accounts = []
        for value in ids:
            original = state.original_for("x", value)
            accounts.append(state.world.by_original("x", original, now) if original else None)
        return answer("ids", ids, accounts, fields)

    return [
        Route("/2/users/by", guarded(state, "x", users_by)),
        Route("/2/users", guarded(state, "x", users_by_ids)),
    ]


def limit_headers(
    limit: int, remaining: int, reset_at: datetime, window_seconds: int
) -> dict[str, str]:
    """This platform's rate-limit headers (../shared/contracts), for `plumbing`."""
    return {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(int(reset_at.timestamp())),
    }


def error_body(code: int, message: str) -> dict[str, Any]:
    """An error body in this platform's envelope, for `plumbing`."""
    return {"title": message, "detail": message, "type": "about:blank", "status": code}
