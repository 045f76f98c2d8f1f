"""Twitch Helix: logins resolved 100 per `GET /users`, then one `GET /channels/followers` each.

Contract: ../shared/contracts/twitch (official reference 2026-02-04, README §9).
`GET /users?login=a&login=b` (the parameter repeated, at most 100) gives each login's id; a
login absent from `data` is not found (Twitch returns no banned or deleted users either). Then
`GET /channels/followers?broadcaster_id=<id>&first=1` gives the top-level `total`: without a
moderator's user token `data` is empty and `total` is still set, so `total` is read, never
`len(data)`; a 400 ("The broadcaster_id query parameter is not valid") is not found, while a
400 from `/users` (too many or malformed logins: the watchlist's syntax check keeps them
out) gives the batch `error` rows. A target with a known id skips the users call. A batch's
followers calls run side by side, up to `FOLLOWERLEDGER_FETCH_CONCURRENCY` (the client's
semaphore and the rate budget bound them as they bound the batches).

Every call sends `Authorization: Bearer <token>` and `Client-Id` (`TWITCH_CLIENT_ID`, which
Twitch treats as public: it is a plain setting, not redacted). The token is
`TWITCH_ACCESS_TOKEN` when given, else an app token from `POST <auth url>/token` (client
credentials, `TWITCH_CLIENT_SECRET`). App tokens cannot be refreshed, so a 401 gets a new one
once; a given token refused is replaced by an app token once when a client secret is set too,
and otherwise, like a second 401, is an error naming the settings. The token request goes to
the auth host, outside the Helix bucket: it counts in the run's `requests` (Twitch has no
`quota_units`: a Helix call is one point of a bucket refilled every minute). A refused client
secret is remembered: no later batch asks again.

`Ratelimit-Reset` is a Unix epoch: the client pauses until it when `Ratelimit-Remaining`
reaches 0, and a 429 waits until it. "If you receive an HTTP status code 503 ... retry once":
every failed request (5xx, timeout, broken answer) is tried twice at most, as is the token
request, and a request waits out at most two 429s (after a wait to `Ratelimit-Reset` the
bucket is full; a second 429 is one of the endpoint-specific ones the guide warns of).

Choices where the contract is silent: logins are 3 to 25 letters, digits or underscores, not
starting with an underscore (new accounts need 4, older ones hold 3-character logins; the
pattern Twitch bots and client libraries widely use is `[a-zA-Z0-9][\\w]{2,24}`); ids are
kept as the digits Twitch sends today (the docs call them opaque: an id of another form would
be an `error` row naming `id`, never a silent new account). A token sent with both a given
token and a client secret set is the given one (a user token, as the reference documents for
Get Channel Followers, while an app token is only observed to work).
"""

from __future__ import annotations

import concurrent.futures
import re
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

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
from followerledger.sources.http import (
    ApiClient,
    RateLimited,
    RequestFailed,
    Sleep,
    rate_limit_headers,
)
from followerledger.sources.platform import Budgets, Connect, Credential, Platform, RatePolicy
from followerledger.sources.profile_links import profile_handle
from followerledger.urls import shown_url

if TYPE_CHECKING:
    from followerledger.settings import Settings

#: "the sum total of the number of users you may look up is 100" (Get Users).
BATCH_SIZE: Final = 100
#: Get Channel Followers reads one broadcaster; one follower keeps `data` small.
FOLLOWERS_PAGE: Final = 1
#: "If you receive an HTTP status code 503 ... retry once" (API guide): two attempts.
ATTEMPTS: Final = 2
#: Seconds before the token request's one retry.
TOKEN_RETRY_WAIT: Final = 1.0
CLIENT_ID_VARIABLE: Final = "TWITCH_CLIENT_ID"
HOSTS: Final = frozenset({"twitch.tv", "www.twitch.tv", "m.twitch.tv"})
CONSOLE: Final = "register an app at https://dev.twitch.tv/console/apps"

ACCESS_TOKEN: Final = Credential(
    "twitch_access_token",
    "TWITCH_ACCESS_TOKEN",
    "followerledger-twitch-access-token",
    "put a Twitch access token issued to TWITCH_CLIENT_ID's app",
    required=False,
)
CLIENT_SECRET: Final = Credential(
    "twitch_client_secret",
    "TWITCH_CLIENT_SECRET",
    "followerledger-twitch-client-secret",
    "put your Twitch app's client secret",
    required=False,
)

read_budget = rate_limit_headers("Ratelimit-Limit", "Ratelimit-Remaining", "Ratelimit-Reset")


class TokenRejected(RequestFailed):
    """Twitch refused the token (or the app-token request); the message names the setting."""


class Tokens:
    """The bearer token every Helix call sends: `given` (TWITCH_ACCESS_TOKEN) while Twitch
    takes it, and app tokens from the client-credentials grant (`POST <auth_url>/token`)
    when there is a client secret. Shared by the batches of a source: a renewal by one is
    the token all of them send next."""

    def __init__(
        self,
        *,
        client_id: str,
        given: str | None = None,
        client_secret: str | None = None,
        auth_url: str = "https://id.twitch.tv/oauth2",
        session: requests.Session | None = None,
        timeout: float = 20.0,
        sleep: Sleep | None = None,
        on_issue: Callable[[str], None] | None = None,
    ) -> None:
        if not given and not client_secret:
            raise ValueError("Tokens needs a given token or a client secret")
        self.auth_url = auth_url.rstrip("/")
        self._client_id = client_id
        self._given = given or None
        self._secret = client_secret or None
        self._session = session or requests.Session()
        self._timeout = timeout
        self._sleep = sleep
        self._on_issue = on_issue
        self._lock = threading.Lock()
        self._token: str | None = self._given
        self._issued: list[str] = []
        self._refused: str | None = None
        self.requests_made = 0

    @property
    def settings(self) -> str:
        """The variables to check when Twitch refuses the token."""
        app = f"{CLIENT_ID_VARIABLE} and {CLIENT_SECRET.variable}"
        if self._given and self._secret:
            return f"{ACCESS_TOKEN.variable}, or {app}"
        return ACCESS_TOKEN.variable if self._given else app

    def current(self) -> str:
        """The token to send now (an app token is fetched on first use)."""
        with self._lock:
            if self._token is None:
                self._token = self._fetch()
            return self._token

    def renew(self, stale: str) -> str | None:
        """The token replacing `stale`: the one another batch already got, or a new app
        token; None without a client secret (a given token has no replacement)."""
        with self._lock:
            if self._token is not None and self._token != stale:
                return self._token
            if self._secret is None:
                return None
            self._token = self._fetch()
            return self._token

    def secrets(self) -> list[str]:
        """The given token, the client secret and every token issued so far, to redact."""
        with self._lock:
            return [value for value in (self._given, self._secret, *self._issued) if value]

    def _fetch(self) -> str:
        if self._refused is not None:
            raise TokenRejected(self._refused)
        assert self._secret is not None
        form = {
            "client_id": self._client_id,
            "client_secret": self._secret,
            "grant_type": "client_credentials",
        }
        for attempt in range(1, ATTEMPTS + 1):
            self.requests_made += 1
            try:
                # `auth=` a no-op: the session's bearer token is no business of the auth host.
                response = self._session.post(
                    f"{self.auth_url}/token", data=form, auth=_no_auth, timeout=self._timeout
                )
            except requests.RequestException as error:
                problem = (
                    f"cannot reach Twitch's auth server at {shown_url(self.auth_url)} "
                    f"({type(error).__name__}): check FOLLOWERLEDGER_TWITCH_AUTH_URL"
                )
            else:
                body = read_json_or_none(response)
                token = body.get("access_token") if isinstance(body, dict) else None
                if response.status_code == 200 and isinstance(token, str) and token:
                    self._issued.append(token)
                    if self._on_issue is not None:
                        self._on_issue(token)
                    return token
                said = self._masked(helix_error_text(body, response.status_code))
                problem = f"Twitch refused the app-token request ({said}): check {self.settings}"
                if response.status_code < 500:
                    self._refused = problem  # never asked again: it would be refused again
                    raise TokenRejected(problem)
            if attempt < ATTEMPTS and self._sleep is not None:
                self._sleep(TOKEN_RETRY_WAIT)
        raise TokenRejected(problem)

    def _masked(self, text: str) -> str:
        """The text without the secret, the given token or an issued token (an auth server
        may echo what it was sent)."""
        secrets = filter(None, [self._secret, self._given, *self._issued])
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """No Authorization header (the request overrides the session's bearer auth)."""
    return request


class HelixBearer(requests.auth.AuthBase):
    """Sets `Authorization: Bearer <the current token>` as each request is sent."""

    def __init__(self, tokens: Tokens) -> None:
        self.tokens = tokens

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.tokens.current()}"
        return request


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


def config_problems(settings: Settings) -> list[str]:
    """A line for a missing client id, and one when neither a client secret nor a token is
    set (the environment, .env or their Prefect Secret blocks)."""
    problems = []
    if not (settings.twitch_client_id or "").strip():
        state = "not set" if settings.twitch_client_id is None else "empty"
        problems.append(
            f"{CLIENT_ID_VARIABLE} is {state}: {CONSOLE} and put its client id in the "
            "environment or .env (or skip Twitch with --platform)"
        )
    if not settings.credentials(CLIENT_SECRET) and not settings.credentials(ACCESS_TOKEN):
        problems.append(
            f"{CLIENT_SECRET.variable} and {ACCESS_TOKEN.variable} are not set: put the "
            f"client secret of that app (on its page at dev.twitch.tv/console: New Secret) in "
            f"{CLIENT_SECRET.variable}, or an access token issued to its client id in "
            f"{ACCESS_TOKEN.variable}, in the environment or .env, or in the Prefect Secret "
            f"block {CLIENT_SECRET.block} or {ACCESS_TOKEN.block} (or skip Twitch with "
            "--platform)"
        )
    return problems


def _first(settings: Settings, credential: Credential) -> str | None:
    values = settings.credentials(credential)
    return values[0].secret.get_secret_value().strip() if values else None


def build(settings: Settings, connect: Connect) -> TwitchSource:
    """The source from the settings: `Client-Id` on its session, its bearer token from
    `Tokens` (ConfigError naming what is missing; `require_config` checks it first)."""
    problems = config_problems(settings)
    if problems:
        raise ConfigError(problems[0])
    client_id = (settings.twitch_client_id or "").strip()
    session = connect.session({"Client-Id": client_id})
    policy = PLATFORM.rate_policy(budgets=settings.budgets, credential=connect.index)
    # The given token and client secret are redacted by every client (build_source adds
    # each configured credential); issued app tokens are added as they come (`on_issue`).
    client = connect.client(settings.twitch_api_url, session, policy, [])
    tokens = Tokens(
        client_id=client_id,
        given=_first(settings, ACCESS_TOKEN),
        client_secret=_first(settings, CLIENT_SECRET),
        auth_url=settings.twitch_auth_url,
        session=session,
        timeout=settings.http_timeout,
        sleep=client.sleep,
        on_issue=client.add_secret,
    )
    label = connect.credential.label if connect.credential else None
    return TwitchSource(client, tokens, label, concurrency=settings.fetch_concurrency)


#: Twitch Helix (../shared/contracts/twitch): logins of letters, digits and underscores;
#: ids digits; an 800-point bucket per minute, one point a call.
PLATFORM: Final = Platform(
    name="twitch",
    label="Twitch",
    handle_pattern=re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{2,24}$"),
    handle_rule="Twitch logins are 3-25 letters, digits or underscores, not starting with an "
    "underscore, written as summit1g, @summit1g or https://www.twitch.tv/summit1g",
    read_written=read_written,
    account_id=re.compile(r"[0-9]{1,20}"),
    id_field="id",
    batch_size=BATCH_SIZE,
    policy=RatePolicy("twitch", 800, 60),
    read_budget=read_budget,
    build=build,
    emulator="followerledger.emulator.twitch_api",
    credentials=(ACCESS_TOKEN, CLIENT_SECRET),
    planned=planned,
    config_problems=config_problems,
)


class TwitchSource(ApiSource):
    """Follower totals from Twitch Helix: a users call per batch to resolve logins, then one
    followers call per account, `concurrency` at a time."""

    spec = PLATFORM

    def __init__(
        self,
        client: ApiClient,
        tokens: Tokens,
        credential: str | None = None,
        *,
        concurrency: int = 1,
    ) -> None:
        super().__init__(client, credential)
        self.tokens = tokens
        self.concurrency = max(1, concurrency)
        client.attempts = min(client.attempts, ATTEMPTS)
        client.session.auth = HelixBearer(tokens)

    def usage(self) -> Usage:
        """Requests made: Helix calls and app-token requests to the auth host. No quota
        units: Helix points are one per call, from a bucket refilled every minute, not a
        quota a run's figures add up to (`quota_units` stays YouTube's)."""
        return Usage(self.client.requests_made + self.tokens.requests_made)

    def plan(self, targets: Sequence[Target]) -> list[list[Target]]:
        """Known ids first, then logins to resolve; 100 per batch."""
        known = [target for target in targets if target.account_id]
        unknown = [target for target in targets if not target.account_id]
        return batches(known, BATCH_SIZE) + batches(unknown, BATCH_SIZE)

    def _get(
        self, path: str, params: list[tuple[str, str]], shape: Callable[[Any], str | None]
    ) -> requests.Response:
        """GET with the current token; on 401 one other token, then a one-line error."""
        self.tokens.current()  # fetched here, not inside the client's request slot
        response = self.client.get(path, params, shape=shape)
        if response.status_code != 401:
            return response
        fresh = self.tokens.renew(_bearer(response))
        if fresh is not None:
            response = self.client.get(path, params, shape=shape)
            if response.status_code != 401:
                return response
        said = helix_error_text(read_json_or_none(response), 401)
        raise TokenRejected(f"Twitch rejected the token ({said}): check {self.tokens.settings}")

    def _fetch(self, batch: Sequence[Target], make: Callable[[], RowFactory]) -> list[Observation]:
        users: dict[str, dict[str, Any]] = {}
        to_resolve = [target for target in batch if not target.account_id]
        if to_resolve:
            params = [("login", login_of(target)) for target in to_resolve]
            response = self._get("/users", params, users_problem)
            body = read_json(response)
            if response.status_code != 200:
                rows = make()
                detail = helix_error_text(body, response.status_code)
                return [rows.status(target, "error", detail) for target in batch]
            users = parse_users(body)
        result: dict[int, Observation] = {}
        work: list[tuple[int, Target, dict[str, Any] | None]] = []
        for number, target in enumerate(batch):
            user = None if target.account_id else users.get(login_of(target))
            if target.account_id is None and user is None:
                result[number] = make().status(
                    target, "not_found", "no Twitch user with this login"
                )
            else:
                work.append((number, target, user))
        for number, row in self._followers_of(work, make):
            result[number] = row
        return [result[number] for number in range(len(batch))]

    def _followers_of(
        self,
        work: list[tuple[int, Target, dict[str, Any] | None]],
        make: Callable[[], RowFactory],
    ) -> list[tuple[int, Observation]]:
        """Each account's followers row, `concurrency` calls at a time."""

        def one(item: tuple[int, Target, dict[str, Any] | None]) -> tuple[int, Observation]:
            number, target, user = item
            return number, self._followers(target, user, make)

        workers = min(self.concurrency, len(work))
        if workers <= 1:
            return [one(item) for item in work]
        with concurrent.futures.ThreadPoolExecutor(workers, "twitch-followers") as pool:
            return list(pool.map(one, work))

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
        except (RateLimited, RequestFailed, MalformedAnswer) as error:
            # Kept to this account: the rows of the batch already read stay good.
            detail = self.client.redact(str(error))
            return make().status(target, "error", detail, handle=handle, account_id=account_id)
        body = read_json_or_none(response)
        rows = make()
        try:
            return followers_row(
                body, response.status_code, target, rows, user=user, account_id=account_id
            )
        except MalformedAnswer as error:
            return rows.status(target, "error", str(error), handle=handle, account_id=account_id)


def login_of(target: Target) -> str:
    """The login a target asks for, as Twitch writes logins (lower case, no '@')."""
    return target.handle.lstrip("@").lower()


def _bearer(response: requests.Response) -> str:
    """The token a request sent (empty when it sent none)."""
    sent = str(response.request.headers.get("Authorization", "")) if response.request else ""
    return sent.removeprefix("Bearer ")


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
                parts.append(" ".join(value.split()))
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
    valid) is not found; anything else an error naming the status. MalformedAnswer for a
    200 not of the documented shape."""
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
