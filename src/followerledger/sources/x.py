"""X (Twitter) API v2 user lookup: up to 100 accounts per request, bearer token.

Contract: ../shared/contracts/x (OpenAPI 2.167 and 2.159, Postman captures).
`GET /2/users/by?usernames=a,b&user.fields=public_metrics` for handles not yet resolved, and
`GET /2/users?ids=1,2&user.fields=public_metrics` once the stable user id is known.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from followerledger.observation import Observation
from followerledger.sources.base import (
    ApiSource,
    MalformedAnswer,
    RowFactory,
    Target,
    as_text,
    batches,
    read_json,
)
from followerledger.sources.http import rate_limit_headers
from followerledger.sources.platform import Connect, Credential, Platform, RatePolicy
from followerledger.sources.profile_links import profile_handle

if TYPE_CHECKING:
    from followerledger.settings import Settings

BATCH_SIZE: Final = 100
USER_FIELDS: Final = "public_metrics"
#: Answers that refuse the bearer token itself (wrong, revoked, or its app not allowed).
REJECTED: Final = frozenset({401, 403})
HOSTS: Final = frozenset(
    f"{prefix}{domain}" for prefix in ("", "www.", "mobile.") for domain in ("x.com", "twitter.com")
)
TOKEN: Final = Credential(
    "x_bearer_token",
    "X_BEARER_TOKEN",
    "followerledger-x-bearer-token",
    "put the app's bearer token",
    "x_bearer_tokens",
    "X_BEARER_TOKENS",
)

read_budget = rate_limit_headers(
    "x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"
)


def read_written(written: str) -> str:
    """A username from `@Apple` or `https://x.com/Apple`."""
    return profile_handle(written, HOSTS)


def build(settings: Settings, connect: Connect) -> XSource:
    """The source, its session sending its credential's bearer token, paced by that
    credential's budget."""
    assert connect.credential is not None
    token = connect.credential.secret
    session = connect.session({"Authorization": f"Bearer {token}"})
    policy = PLATFORM.rate_policy(budgets=settings.budgets, credential=connect.index)
    client = connect.client(settings.x_api_url, session, policy, [token])
    return XSource(client, connect.credential.label)


#: X API v2 (../shared/contracts/x): usernames, user ids as the OpenAPI pattern writes them,
#: and 300 user lookups per 15 minutes per app.
PLATFORM: Final = Platform(
    name="x",
    label="X",
    handle_pattern=re.compile(r"^[A-Za-z0-9_]{1,15}$"),
    handle_rule="X usernames are 1-15 letters, digits or underscores, written as Apple, @Apple "
    "or https://x.com/Apple",
    read_written=read_written,
    account_id=re.compile(r"[0-9]{1,19}"),
    id_field="id",
    batch_size=BATCH_SIZE,
    policy=RatePolicy("x", 300, 15 * 60),
    read_budget=read_budget,
    build=build,
    emulator="followerledger.emulator.x_api",
    credentials=(TOKEN,),
)


class XSource(ApiSource):
    """Follower counts from the X API v2 user-lookup endpoints."""

    spec = PLATFORM

    def plan(self, targets: Sequence[Target]) -> list[list[Target]]:
        """Resolved accounts are read by id, the others by username; 100 per request."""
        by_id = [target for target in targets if target.account_id]
        by_name = [target for target in targets if not target.account_id]
        return batches(by_id, BATCH_SIZE) + batches(by_name, BATCH_SIZE)

    def _fetch(self, batch: Sequence[Target], make: Callable[[], RowFactory]) -> list[Observation]:
        if all(target.account_id for target in batch):
            params = {"ids": ",".join(str(t.account_id) for t in batch), "user.fields": USER_FIELDS}
            response = self.client.get("/2/users", params, shape=users_problem)
            by_id = True
        else:
            params = {"usernames": ",".join(t.handle for t in batch), "user.fields": USER_FIELDS}
            response = self.client.get("/2/users/by", params, shape=users_problem)
            by_id = False
        body = read_json(response)
        rows = make()
        if response.status_code != 200:
            detail = problem_text(body, response.status_code)
            if response.status_code in REJECTED:
                which = self.credential or TOKEN.variable
                detail = f"X rejected the token ({detail}): check {which}"
            return [rows.status(target, "error", detail) for target in batch]
        return parse_users(body, batch, rows, by_id=by_id)


def problem_text(body: Any, status_code: int) -> str:
    """A one-line description of an X error answer (problem+json or legacy errors list)."""
    parts: list[str] = [f"HTTP {status_code}"]
    if isinstance(body, dict):
        for key in ("title", "detail"):
            if isinstance(body.get(key), str):
                parts.append(body[key])
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            message = errors[0].get("message") or errors[0].get("detail")
            if isinstance(message, str):
                parts.append(message)
    return ": ".join(dict.fromkeys(parts))


def _is_suspension(problem: dict[str, Any]) -> bool:
    detail = problem.get("detail")
    return problem.get("title") == "Forbidden" or (
        isinstance(detail, str) and detail.startswith("User has been suspended")
    )


def _is_not_found(problem: dict[str, Any]) -> bool:
    kind = problem.get("type")
    return problem.get("title") == "Not Found Error" or (
        isinstance(kind, str) and kind.endswith("/resource-not-found")
    )


def users_problem(body: Any) -> str | None:
    """What keeps a 200 answer of /2/users or /2/users/by from being read, or None."""
    if not isinstance(body, dict):
        return "answer is not a JSON object"
    if not isinstance(body.get("data", []), list | dict):
        return "'data' is not a list"
    if not isinstance(body.get("errors", []), list):
        return "'errors' is not a list"
    return None


def parse_users(
    body: Any, batch: Sequence[Target], rows: RowFactory, *, by_id: bool
) -> list[Observation]:
    """Rows for a 200 answer of /2/users/by or /2/users: one per target, in batch order.

    Users are matched case-insensitively on `username` (or on `id`); `errors[]` entries on
    `value`, falling back to `resource_id`. Suspension is told from not-found by `title` and
    `detail`, not by `type`, which both share.
    """
    wrong = users_problem(body)
    if wrong is not None:
        raise MalformedAnswer(wrong)
    data = body.get("data", [])
    if isinstance(data, dict):
        data = [data]
    problems = body.get("errors", [])

    users: dict[str, dict[str, Any]] = {}
    for user in data:
        if not isinstance(user, dict):
            continue
        key = user.get("id") if by_id else user.get("username")
        if isinstance(key, str):
            users.setdefault(key if by_id else key.lower(), user)
    errors: dict[str, dict[str, Any]] = {}
    for problem in problems:
        if not isinstance(problem, dict):
            continue
        for field in ("value", "resource_id"):
            value = problem.get(field)
            if isinstance(value, str):
                errors.setdefault(value if by_id else value.lower(), problem)

    result: list[Observation] = []
    for target in batch:
        key = str(target.account_id) if by_id else target.handle.lower()
        user = users.get(key)
        if user is not None:
            result.append(_user_row(user, target, rows))
            continue
        problem = errors.get(key)
        if problem is None:
            result.append(
                rows.status(target, "error", "absent from the answer (no data, no error)")
            )
        elif _is_suspension(problem):
            result.append(rows.status(target, "suspended", as_text(problem.get("detail"))))
        elif _is_not_found(problem):
            result.append(rows.status(target, "not_found", as_text(problem.get("detail"))))
        else:
            text = as_text(problem.get("detail")) or as_text(problem.get("title")) or "error"
            result.append(rows.status(target, "error", text))
    return result


def _user_row(user: dict[str, Any], target: Target, rows: RowFactory) -> Observation:
    metrics = user.get("public_metrics")
    metrics = metrics if isinstance(metrics, dict) else {}
    # The 2.167 spec names it post_count; older specs and the docs say tweet_count.
    posts_key = "post_count" if "post_count" in metrics else "tweet_count"
    handle = as_text(user.get("username"))
    account_id = as_text(user.get("id"))
    return rows.ok(
        target,
        handle=handle,
        account_id=account_id,
        display_name=as_text(user.get("name")),
        followers=metrics.get("followers_count"),
        following=metrics.get("following_count"),
        posts=metrics.get(posts_key),
        followers_field="public_metrics.followers_count",
        following_field="public_metrics.following_count",
        posts_field=f"public_metrics.{posts_key}",
    )
