"""Emulated Twitch: Helix's `/helix/users` and `/helix/channels/followers`, and the auth
server's `POST /oauth2/token` (client credentials), in the official shapes.

Errors are Helix's `{"error": <reason>, "status": <code>, "message": <text>}`; every Helix
answer carries `Ratelimit-Limit/Remaining/Reset` (epoch seconds) through `guarded`. Banned
and deleted users are simply absent from Get Users, as on Twitch, and their ids are "not
valid" broadcaster ids (400). Accounts the world calls not found, suspended or deactivated are
all answered that way.

Auth: with `TwitchAuth.client_secret` unset (the default) every bearer token is accepted and
any client credentials get a token; once set, only tokens this emulator issued (and not
revoked) and the configured `client_id` are accepted, as Twitch does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http
import itertools
import threading
import urllib.parse
import weakref
from datetime import datetime
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from followerledger.emulator import world as w
from followerledger.emulator.memory import EmulatorState
from followerledger.emulator.plumbing import guarded

#: When the emulated accounts start growing.
GROWTH_START: Final = w.ANCHOR
#: The bucket Twitch documents (800 points a minute, one point a request).
LIMIT: Final[tuple[int, int] | None] = (800, 60)
#: The lifetime of the docs' example app token.
EXPIRES_IN: Final = 5011271
MAX_USERS: Final = 100


def account_id(original: str) -> str:
    """The id Twitch gives the account first watched as `original` (digits, as today)."""
    digest = hashlib.sha256(f"twitch-id\x1f{original.lower()}".encode()).digest()
    return str(100_000 + int.from_bytes(digest[:6], "big") % 10**10)


@dataclasses.dataclass
class TwitchAuth:
    """What the emulated auth server accepts and what it handed out."""

    client_id: str | None = None
    client_secret: str | None = None
    issued: set[str] = dataclasses.field(default_factory=set)
    _counter: itertools.count[int] = dataclasses.field(default_factory=itertools.count)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def issue(self) -> str:
        """A new app token."""
        with self._lock:
            token = hashlib.sha256(f"twitch-token\x1f{next(self._counter)}".encode()).hexdigest()
            token = token[:30]
            self.issued.add(token)
            return token

    def revoke_all(self) -> None:
        """Invalidate every issued token (as an expiry or a secret rotation would)."""
        with self._lock:
            self.issued.clear()

    def accepts(self, token: str, client_id: str) -> bool:
        """Whether a Helix request with this token and Client-Id is authorised."""
        if not token or not client_id:
            return False
        if self.client_secret is None:
            return True
        with self._lock:
            return token in self.issued and client_id == self.client_id


_AUTH: weakref.WeakKeyDictionary[EmulatorState, TwitchAuth] = weakref.WeakKeyDictionary()


def auth(state: EmulatorState) -> TwitchAuth:
    """The Twitch auth of one emulator (open until its `client_secret` is set)."""
    found = _AUTH.get(state)
    if found is None:
        found = _AUTH[state] = TwitchAuth()
    return found


def helix_error(code: int, message: str) -> JSONResponse:
    """A Helix error answer."""
    body = {"error": http.HTTPStatus(code).phrase, "status": code, "message": message}
    return JSONResponse(body, status_code=code)


def routes(state: EmulatorState) -> list[Route]:
    """The Twitch routes of one emulator."""
    credentials = auth(state)

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ")
        if token == header:
            return False
        return credentials.accepts(token, request.headers.get("client-id", ""))

    def user(account: w.EmulatedAccount) -> dict[str, Any]:
        state.remember("twitch", account.id, account.original)
        login = account.handle.lower()
        return {
            "id": account.id,
            "login": login,
            "display_name": account.handle,
            "type": "",
            "broadcaster_type": "partner",
            "description": f"{account.handle} (emulated)",
            "profile_image_url": f"https://static-cdn.jtvnw.net/jtv_user_pictures/{login}.png",
            "offline_image_url": "",
            "view_count": 0,
            "created_at": "2016-12-14T20:32:28Z",
        }

    async def users(request: Request) -> Response:
        if not authorized(request):
            return helix_error(401, "Invalid OAuth token")
        logins = request.query_params.getlist("login")
        ids = request.query_params.getlist("id")
        if not logins and not ids:
            return helix_error(400, "The id or login query parameter is required")
        if len(logins) + len(ids) > MAX_USERS:
            return helix_error(
                400,
                "The request exceeded the maximum allowed number of id and/or login "
                "query parameters.",
            )
        now = state.clock()
        found = [state.world.lookup("twitch", login, now) for login in logins]
        for value in ids:
            original = state.original_for("twitch", value)
            if original is not None:
                found.append(state.world.by_original("twitch", original, now))
        seen: set[str] = set()
        data = []
        for account in found:
            if account.state == "ok" and account.id not in seen:
                seen.add(account.id)
                data.append(user(account))
        return JSONResponse({"data": data})

    async def followers(request: Request) -> Response:
        if not authorized(request):
            return helix_error(401, "Invalid OAuth token")
        broadcaster = request.query_params.get("broadcaster_id", "")
        if not broadcaster:
            return helix_error(400, 'Missing required parameter "broadcaster_id"')
        first = request.query_params.get("first", "20")
        if not first.isdigit() or not 1 <= int(first) <= 100:
            return helix_error(400, 'The parameter "first" was malformed')
        now = state.clock()
        original = state.original_for("twitch", broadcaster)
        account = state.world.by_original("twitch", original, now) if original else None
        if account is None or account.state != "ok":
            return helix_error(400, "The broadcaster_id query parameter is not valid.")
        total = w.followers_at("twitch", account.original, now)
        # No moderator's user token here: Twitch then lists nobody, and gives the total.
        return JSONResponse({"total": total, "data": [], "pagination": {}})

    async def token(request: Request) -> Response:
        state.count("twitch:/oauth2/token")
        # Parsed by hand: Starlette's form parser needs python-multipart, not a dependency.
        form = dict(urllib.parse.parse_qsl((await request.body()).decode("utf-8", "replace")))
        client_id = form.get("client_id", "")
        secret = form.get("client_secret", "")
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"status": 400, "message": "unsupported grant type"}, 400)
        if not client_id or (
            credentials.client_id is not None and client_id != credentials.client_id
        ):
            return JSONResponse({"status": 400, "message": "invalid client"}, 400)
        if not secret or (
            credentials.client_secret is not None and secret != credentials.client_secret
        ):
            return JSONResponse({"status": 403, "message": "invalid client secret"}, 403)
        return JSONResponse(
            {"access_token": credentials.issue(), "expires_in": EXPIRES_IN, "token_type": "bearer"}
        )

    return [
        Route("/helix/users", guarded(state, "twitch", users)),
        Route("/helix/channels/followers", guarded(state, "twitch", followers)),
        Route("/oauth2/token", token, methods=["POST"]),
    ]


def limit_headers(
    limit: int, remaining: int, reset_at: datetime, window_seconds: int
) -> dict[str, str]:
    """This platform's rate-limit headers (../shared/contracts), for `plumbing`."""
    return {
        "Ratelimit-Limit": str(limit),
        "Ratelimit-Remaining": str(remaining),
        "Ratelimit-Reset": str(int(reset_at.timestamp())),
    }


def error_body(code: int, message: str) -> dict[str, Any]:
    """An error body in this platform's envelope, for `plumbing`."""
    return {"error": message, "status": code, "message": message}
