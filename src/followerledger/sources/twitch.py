"""Twitch Helix: logins resolved 100 per `GET /users`, then one `GET /channels/followers` each.

Contract: ../shared/contracts/twitch (official reference 2026-02-04, README §9).
`GET /users?login=a&login=b` (the parameter repeated, at most 100) gives each login's id; a
login absent from `data` is not found (Twitch returns no banned or deleted users either). Then
`GET /channels/followers?broadcaster_id=<id>&first=1` gives the top-level `total`: without a
moderator's user token `data` is empty and `total` is still set, so `total` is read, never
`len(data)`. A target with a known id skips the users call. Every call sends
`Authorization: Bearer <token>` and `Client-Id`. The token is `TWITCH_ACCESS_TOKEN` when given,
else an app token from `POST <auth url>/token` (client credentials); app tokens cannot be
refreshed, so a 401 gets a new one once, and a second 401 is an error naming the setting.
`Ratelimit-Reset` is a Unix epoch: the client pauses until it when `Ratelimit-Remaining`
reaches 0, and a 429 waits until it; a 503 is retried once, as Twitch asks.

TODO(lead): settings (`TWITCH_CLIENT_ID`, `TWITCH_CLIENT_SECRET`, `TWITCH_ACCESS_TOKEN`,
`FOLLOWERLEDGER_TWITCH_API_URL`, `FOLLOWERLEDGER_TWITCH_AUTH_URL`) and the registry line are
not wired yet: `build` reads them with `getattr` defaults, and `PLATFORM` is not in
`sources/registry.py`, so no command lists Twitch until both are added.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

import requests

from followerledger.errors import ConfigError
from followerledger.observation import Observation
from followerledger.sources.base import (
    ApiSource,
    MalformedAnswer,
    RowFactory,
    Target,
    Usage,
    as_text,
    batches,
    read_json,
)
from followerledger.sources.http import ApiClient, RateLimited, RequestFailed, rate_limit_headers
from followerledger.sources.platform import Budgets, Connect, Platform, RatePolicy
from followerledger.sources.profile_links import profile_handle

if TYPE_CHECKING:
    from followerledger.settings import Settings

#: "the sum total of the number of users you may look up is 100" (Get Users).
BATCH_SIZE: Final = 100
#: Get Channel Followers reads one broadcaster; one follower keeps `data` small.
FOLLOWERS_PAGE: Final = 1
#: "If you receive an HTTP status code 503 ... retry once" (API guide): two attempts.
ATTEMPTS: Final = 2
DEFAULT_API_URL: Final = "https://api.twitch.tv/helix"
DEFAULT_AUTH_URL: Final = "https://id.twitch.tv/oauth2"
CLIENT_ID_VARIABLE: Final = "TWITCH_CLIENT_ID"
SECRET_VARIABLE: Final = "TWITCH_CLIENT_SECRET"  # noqa: S105 (a variable name)
TOKEN_VARIABLE: Final = "TWITCH_ACCESS_TOKEN"  # noqa: S105 (a variable name)
HOSTS: Final = frozenset({"twitch.tv", "www.twitch.tv", "m.twitch.tv"})

read_budget = rate_limit_headers("Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset")


class TokenRejected(RequestFailed):
    """Twitch refused the token (or the app-token request); the message names the setting."""


class TokenProvider(Protocol):
    """Where the bearer token comes from: a given token, or app tokens fetched on demand."""

    @property
    def settings(self) -> str:
        """The variables to check when Twitch refuses the token."""
        ...

    def current(self) -> str:
        """The token to send now (fetched on first use)."""
        ...

    def renew(self, stale: str) -> str | None:
        """A new token replacing `stale` (None: this provider has no other)."""
        ...

    def secrets(self) -> list[str]:
        """Every secret it holds or handed out, for redaction."""
        ...


class GivenToken:
    """`TWITCH_ACCESS_TOKEN`: sent as it is; there is no other to turn to on a 401."""

    settings = TOKEN_VARIABLE

    def __init__(self, token: str) -> None:
        self._token = token

    def current(self) -> str:
        """The given token."""
        return self._token

    def renew(self, stale: str) -> str | None:
        """None: a given token cannot be replaced."""
        return None

    def secrets(self) -> list[str]:
        """The token."""
        return [self._token]


class AppTokens:
    """App access tokens from the client-credentials grant (`POST <auth_url>/token`)."""

    settings = f"{CLIENT_ID_VARIABLE} and {SECRET_VARIABLE}"

    def __init__(
        self,
        auth_url: str,
        client_id: str,
        client_secret: str,
        session: requests.Session,
        timeout: float = 20.0,
    ) -> None:
        self.auth_url = auth_url.rstrip("/")
        self._client_id = client_id
        self._secret = client_secret
        self._session = session
        self._timeout = timeout
        self._lock = threading.Lock()
        self._token: str | None = None
        self._issued: list[str] = []
        self.requests_made = 0

    def current(self) -> str:
        """The app token in use, fetched on first use."""
        with self._lock:
            if self._token is None:
                self._token = self._fetch()
            return self._token

    def renew(self, stale: str) -> str | None:
        """A new app token, unless another batch already replaced `stale`."""
        with self._lock:
            if self._token is None or self._token == stale:
                self._token = self._fetch()
            return self._token

    def secrets(self) -> list[str]:
        """The client secret and every token issued so far."""
        with self._lock:
            return [self._secret, *self._issued]

    def _fetch(self) -> str:
        form = {
            "client_id": self._client_id,
            "client_secret": self._secret,
            "grant_type": "client_credentials",
        }
        self.requests_made += 1
        try:
            # Without the session's bearer header: the auth server needs no (stale) token.
            response = self._session.post(
                f"{self.auth_url}/token",
                data=form,
                headers={"Authorization": None},
                timeout=self._timeout,
            )
        except requests.RequestException as error:
            raise TokenRejected(
                f"cannot get a Twitch app token ({type(error).__name__}): check {self.settings}"
            ) from None
        try:
            body = read_json(response)
        except MalformedAnswer:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(token, str) or not token:
            said = helix_error_text(body, response.status_code)
            raise TokenRejected(
                f"Twitch refused the app-token request ({said}): check {self.settings}"
            )
        self._issued.append(token)
        return token


def read_written(written: str) -> str:
    """A login from `summit1g`, `@summit1g` or `https://www.twitch.tv/summit1g`."""
    return profile_handle(written, HOSTS)


def planned(
    spec: Platform, batches: Sequence[Sequence[Target]], budgets: Budgets, credential: int = 0
) -> dict[RatePolicy, int]:
    """One followers call per target, plus one users call per batch with a target to resolve
    (the app-token request goes to the auth server, outside the Helix bucket)."""
    count = sum(len(batch) + any(t.account_id is None for t in batch) for batch in batches)
    return {spec.rate_policy(budgets=budgets, credential=credential): count}


def build(settings: Settings, connect: Connect) -> TwitchSource:
    """The source from the settings (see the module's TODO: read with defaults until the
    lead adds the fields)."""
    client_id = str(getattr(settings, "twitch_client_id", None) or "")
    secret = str(getattr(settings, "twitch_client_secret", None) or "")
    given = str(getattr(settings, "twitch_access_token", None) or "")
    api_url = str(getattr(settings, "twitch_api_url", None) or DEFAULT_API_URL)
    auth_url = str(getattr(settings, "twitch_auth_url", None) or DEFAULT_AUTH_URL)
    if not client_id:
        raise ConfigError(
            f"{CLIENT_ID_VARIABLE} is not set: put the client id of the Twitch app "
            "(every Helix call sends it as Client-Id)"
        )
    if not secret and not given:
        raise ConfigError(
            f"Twitch needs {SECRET_VARIABLE} (for an app token) or {TOKEN_VARIABLE}: neither is set"
        )
    session = connect.session({"Client-Id": client_id})
    tokens: TokenProvider = (
        GivenToken(given)
        if given
        else AppTokens(auth_url, client_id, secret, session, settings.http_timeout)
    )
    policy = PLATFORM.rate_policy(budgets=settings.budgets, credential=connect.index)
    client = connect.client(api_url, session, policy, tokens.secrets())
    return TwitchSource(client, tokens)


#: Twitch Helix (../shared/contracts/twitch): logins of letters, digits and underscores;
#: ids are opaque strings (digits today); an 800-point bucket per minute, one point a call.
PLATFORM: Final = Platform(
    name="twitch",
    label="Twitch",
    handle_pattern=re.compile(r"^[A-Za-z0-9_]{1,25}$"),
    handle_rule="Twitch logins are 1-25 letters, digits or underscores, written as summit1g, "
    "@summit1g or https://www.twitch.tv/summit1g",
    read_written=read_written,
    account_id=re.compile(r"[A-Za-z0-9_-]{1,64}"),
    id_field="id",
    batch_size=BATCH_SIZE,
    policy=RatePolicy("twitch", 800, 60),
    read_budget=read_budget,
    build=build,
    emulator="followerledger.emulator.twitch_api",
    planned=planned,
)


class TwitchSource(ApiSource):
    """Follower totals from Twitch Helix: a users call per batch to resolve logins, then one
    followers call per account."""

    spec = PLATFORM

    def __init__(self, client: ApiClient, tokens: TokenProvider) -> None:
        super().__init__(client, tokens.settings)
        self.tokens = tokens
        client.attempts = min(client.attempts, ATTEMPTS)
        self._lock = threading.Lock()

    def usage(self) -> Usage:
        """Helix requests made (one point each); app-token requests are not counted."""
        return Usage(self.client.requests_made, self.client.requests_made)

    def plan(self, targets: Sequence[Target]) -> list[list[Target]]:
        """Known ids first, then logins to resolve; 100 per batch."""
        known = [target for target in targets if target.account_id]
        unknown = [target for target in targets if not target.account_id]
        return batches(known, BATCH_SIZE) + batches(unknown, BATCH_SIZE)

    def fetch(self, batch: Sequence[Target], run_id: str) -> list[Observation]:
        """The batch's rows; exactly one per target, with the client secret and every token
        redacted (app tokens fetched during the run are unknown to the client)."""
        return [
            dataclasses.replace(row, detail=self.redact(row.detail)) if row.detail else row
            for row in super().fetch(batch, run_id)
        ]

    def redact(self, text: str) -> str:
        """The text with the client's secrets and every secret of the token provider masked."""
        text = self.client.redact(text)
        for secret in sorted(self.tokens.secrets(), key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text

    def _get(
        self, path: str, params: list[tuple[str, str]], shape: Callable[[Any], str | None]
    ) -> requests.Response:
        """GET with the current token; on 401 a new token once, then a one-line error."""
        token = self.tokens.current()
        response = self._send(path, params, shape, token)
        if response.status_code != 401:
            return response
        fresh = self.tokens.renew(token)
        if fresh is not None:
            response = self._send(path, params, shape, fresh)
            if response.status_code != 401:
                return response
        said = helix_error_text(read_json_or_none(response), 401)
        raise TokenRejected(f"Twitch rejected the token ({said}): check {self.tokens.settings}")

    def _send(
        self,
        path: str,
        params: list[tuple[str, str]],
        shape: Callable[[Any], str | None],
        token: str,
    ) -> requests.Response:
        # The session's header carries the token to every batch: a renewal by one batch is the
        # token all of them send next (a batch still holding the stale one gets it from renew).
        with self._lock:
            self.client.session.headers["Authorization"] = f"Bearer {token}"
        return self.client.get(path, params, shape=shape)

    def _fetch(self, batch: Sequence[Target], make: Callable[[], RowFactory]) -> list[Observation]:
        users: dict[str, dict[str, Any]] = {}
        to_resolve = [target for target in batch if not target.account_id]
        if to_resolve:
            params = [("login", target.handle.lstrip("@").lower()) for target in to_resolve]
            response = self._get("/users", params, users_problem)
            body = read_json(response)
            if response.status_code != 200:
                rows = make()
                detail = helix_error_text(body, response.status_code)
                return [rows.status(target, "error", detail) for target in batch]
            users = parse_users(body)
        result: list[Observation] = []
        for target in batch:
            user = None
            if target.account_id is None:
                user = users.get(target.handle.lstrip("@").lower())
                if user is None:
                    result.append(
                        make().status(target, "not_found", "no Twitch user with this login")
                    )
                    continue
            result.append(self._followers(target, user, make))
        return result

    def _followers(
        self, target: Target, user: dict[str, Any] | None, make: Callable[[], RowFactory]
    ) -> Observation:
        account_id = as_text(user.get("id")) if user else target.account_id
        handle = as_text(user.get("login")) if user else None
        if account_id is None:
            return make().status(target, "error", "answer lacks data[].id", handle=handle)
        params = [("broadcaster_id", account_id), ("first", str(FOLLOWERS_PAGE))]
        try:
            response = self._get("/channels/followers", params, followers_problem)
        except TokenRejected:
            raise  # the whole batch fails alike, as the next call would
        except (RateLimited, RequestFailed) as error:
            # Kept to this account: the rows of the batch already read stay good.
            detail = self.redact(str(error))
            return make().status(target, "error", detail, handle=handle, account_id=account_id)
        body = read_json(response)
        rows = make()
        return followers_row(
            body, response.status_code, target, rows, user=user, account_id=account_id
        )


def read_json_or_none(response: requests.Response) -> Any:
    """The answer's JSON body, or None when it is not JSON."""
    try:
        return read_json(response)
    except MalformedAnswer:
        return None


def helix_error_text(body: Any, status_code: int) -> str:
    """A one-line description of a Helix or auth-server error (`{"error","status","message"}`)."""
    parts = [f"HTTP {status_code}"]
    if isinstance(body, dict):
        for key in ("error", "message"):
            value = body.get(key)
            if isinstance(value, str) and value and value not in parts:
                parts.append(value)
    return ": ".join(parts)


def users_problem(body: Any) -> str | None:
    """What keeps a 200 answer of Get Users from being read, or None."""
    if not isinstance(body, dict):
        return "answer is not a JSON object"
    if not isinstance(body.get("data"), list):
        return "'data' is not a list"
    return None


def followers_problem(body: Any) -> str | None:
    """What keeps a 200 answer of Get Channel Followers from being read, or None."""
    if not isinstance(body, dict):
        return "answer is not a JSON object"
    if "data" in body and not isinstance(body["data"], list):
        return "'data' is not a list"
    return None


def parse_users(body: Any) -> dict[str, dict[str, Any]]:
    """The users of a 200 Get Users answer by lower-cased login (logins are case-insensitive
    on Twitch; the answer writes them in lower case)."""
    problem = users_problem(body)
    if problem is not None:
        raise MalformedAnswer(problem)
    found: dict[str, dict[str, Any]] = {}
    for user in body["data"]:
        if isinstance(user, dict):
            login = as_text(user.get("login"))
            if login is not None:
                found.setdefault(login.lower(), user)
    return found


def followers_row(
    body: Any,
    status_code: int,
    target: Target,
    rows: RowFactory,
    *,
    user: dict[str, Any] | None,
    account_id: str,
) -> Observation:
    """The row for one Get Channel Followers answer: `total` on a 200; a 400 (the id is not
    valid) is not found; anything else an error naming the status."""
    handle = as_text(user.get("login")) if user else None
    if status_code == 400:
        said = helix_error_text(body, status_code)
        return rows.status(
            target,
            "not_found",
            f"Twitch does not take this broadcaster id ({said})",
            handle=handle,
            account_id=account_id,
        )
    if status_code != 200:
        return rows.status(
            target,
            "error",
            helix_error_text(body, status_code),
            handle=handle,
            account_id=account_id,
        )
    problem = followers_problem(body)
    if problem is not None:
        raise MalformedAnswer(problem)
    return rows.ok(
        target,
        handle=handle,
        account_id=account_id,
        display_name=as_text(user.get("display_name")) if user else None,
        followers=body.get("total"),
        following=None,
        posts=None,
        followers_field="total",
    )
