"""Mastodon: each account read from its own instance, by id once resolved.

Contract: ../shared/contracts/mastodon (methods/accounts.md, entities/Account.md,
api/rate-limits.md). `GET /api/v1/accounts/lookup?acct=` resolves a handle once; later runs
read by id: one `GET /api/v1/accounts?id[]=…` per instance where the instance runs 4.3 or
newer (its version comes from `GET /api/v2/instance`), else `GET /api/v1/accounts/:id` each.
Mastodon ids are only unique within an instance, so the stored account id is
`<instance>:<id>`. Suspended accounts answer 200 with zeroed counts: those zeros are not data.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from followerledger.observation import Observation
from followerledger.sources.base import (
    MalformedAnswer,
    RowFactory,
    Target,
    Usage,
    as_text,
    batches,
    fetch_guarded,
    read_json,
)
from followerledger.sources.http import (
    ApiClient,
    RateLimited,
    RequestFailed,
    iso8601,
    rate_limit_headers,
)
from followerledger.sources.platform import Budgets, Connect, Platform, RatePolicy
from followerledger.sources.profile_links import DOMAIN, NotAProfile, link

if TYPE_CHECKING:
    from followerledger.settings import Settings

#: Ids per `accounts?id[]=` request. The docs give no maximum; 40 is Mastodon's default page
#: size for account lists, a size every 4.3+ server answers.
BATCH_SIZE: Final = 40
MULTI_ACCOUNT_VERSION: Final = (4, 3)

read_budget = rate_limit_headers(
    "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", iso8601
)


def read_written(written: str) -> str:
    """`user@instance` from `@user@instance` or `https://instance/@user`."""
    if "/" in written:
        instance, segments = link(written, None)
        if len(segments) != 1 or not segments[0].startswith("@"):
            raise NotAProfile
        user = segments[0][1:]
        # An instance shows a remote account as https://instance/@user@home.
        return user if "@" in user else f"{user}@{instance}"
    return written.removeprefix("@")


def build(settings: Settings, connect: Connect) -> MastodonSource:
    """The source; each instance gets a client (and a budget) of its own, all on one session
    (`FOLLOWERLEDGER_MASTODON_API_URL` sends every instance's requests to one server)."""
    shared = connect.session(None)
    override = settings.mastodon_api_url

    def instance_client(instance: str) -> ApiClient:
        url = override or f"https://{instance}"
        return connect.client(url, shared, PLATFORM.rate_policy(instance, settings.budgets), ())

    return MastodonSource(instance_client)


def planned(
    spec: Platform,
    planned_batches: Sequence[Sequence[Target]],
    budgets: Budgets,
    credential: int = 0,
) -> dict[RatePolicy, int]:
    """Per instance: one request per batch, plus the version check of each instance read
    by id (Mastodon takes no credential: `credential` is always 0)."""
    counted: dict[RatePolicy, int] = {}
    checked: set[str] = set()
    for batch in planned_batches:
        instance = split_handle(batch[0].handle)[1]
        policy = spec.rate_policy(instance, budgets)
        counted[policy] = counted.get(policy, 0) + 1
        if batch[0].account_id and instance not in checked:
            checked.add(instance)
            counted[policy] += 1
    return counted


def split_handle(handle: str) -> tuple[str, str]:
    """`user@instance` (with or without a leading '@') as (user, instance)."""
    user, _, instance = handle.lstrip("@").partition("@")
    return user, instance.lower()


def stored_id(instance: str, account_id: str) -> str:
    """The account id as stored: unique across instances."""
    return f"{instance}:{account_id}"


def local_id(target: Target) -> str | None:
    """The instance-local id of a resolved target."""
    if not target.account_id:
        return None
    return target.account_id.rsplit(":", 1)[-1]


def parse_version(text: str) -> tuple[int, int]:
    """(major, minor) from a version string such as `4.3.2+glitch`; (0, 0) if unreadable."""
    match = re.match(r"^\s*(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


#: Mastodon (../shared/contracts/mastodon): ids are "cast from an integer, but not guaranteed
#: to be a number" (Account.md), so the instance-local part may be letters and digits (as on
#: Mastodon-compatible servers), stored as `<instance>:<id>`; 300 requests per 5 minutes per
#: IP and instance.
PLATFORM: Final = Platform(
    name="mastodon",
    label="Mastodon",
    handle_pattern=re.compile(rf"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?@{DOMAIN}$"),
    handle_rule="Mastodon handles are user@instance, such as Gargron@mastodon.social, "
    "written with or without a leading '@' or as https://instance/@user",
    read_written=read_written,
    account_id=re.compile(r"[a-z0-9.-]{1,253}:[0-9A-Za-z]{1,64}"),
    id_field="id",
    batch_size=BATCH_SIZE,
    policy=RatePolicy("mastodon", 300, 5 * 60),
    read_budget=read_budget,
    build=build,
    emulator="followerledger.emulator.mastodon_api",
    planned=planned,
)


class MastodonSource:
    """Follower counts from each account's home instance."""

    platform: Final = PLATFORM.name
    batch_size: Final = PLATFORM.batch_size
    #: Mastodon's public lookups take no credential.
    credential: Final[str | None] = None

    def __init__(self, client_for: Callable[[str], ApiClient]) -> None:
        self._client_for = client_for
        self._clients: dict[str, ApiClient] = {}
        self._versions: dict[str, tuple[int, int]] = {}
        self._version_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def client(self, instance: str) -> ApiClient:
        """The client of one instance (one budget per instance, as Mastodon counts per server)."""
        with self._lock:
            if instance not in self._clients:
                self._clients[instance] = self._client_for(instance)
            return self._clients[instance]

    def usage(self) -> Usage:
        """Requests made, over every instance."""
        with self._lock:
            return Usage(sum(client.requests_made for client in self._clients.values()))

    def plan(self, targets: Sequence[Target]) -> list[list[Target]]:
        """Per instance: resolved accounts 40 per request; each unresolved one on its own."""
        resolved: dict[str, list[Target]] = defaultdict(list)
        unresolved: list[list[Target]] = []
        for target in targets:
            if target.account_id:
                resolved[split_handle(target.handle)[1]].append(target)
            else:
                unresolved.append([target])
        planned = [
            batch
            for instance in sorted(resolved)
            for batch in batches(resolved[instance], BATCH_SIZE)
        ]
        return planned + unresolved

    def fetch(self, batch: Sequence[Target], run_id: str) -> list[Observation]:
        """One lookup, or the id reads of one instance; exactly one row per target."""
        instance = split_handle(batch[0].handle)[1]
        client = self.client(instance)
        return fetch_guarded(
            client, batch, run_id, lambda make: self._fetch(client, instance, batch, make)
        )

    def _fetch(
        self,
        client: ApiClient,
        instance: str,
        batch: Sequence[Target],
        make: Callable[[], RowFactory],
    ) -> list[Observation]:
        if not batch[0].account_id:
            [target] = batch
            user, _ = split_handle(target.handle)
            response = client.get(
                "/api/v1/accounts/lookup", {"acct": f"{user}@{instance}"}, shape=account_problem
            )
            return [
                self._single(response.status_code, read_json(response), target, make(), instance)
            ]
        if self._supports_multi(client, instance):
            response = client.get(
                "/api/v1/accounts",
                [("id[]", local_id(target)) for target in batch],
                shape=accounts_problem,
            )
            body = read_json(response)
            rows = make()
            if response.status_code != 200:
                return [
                    rows.status(t, "error", error_text(body, response.status_code)) for t in batch
                ]
            problem = accounts_problem(body)
            if problem is not None:
                raise MalformedAnswer(problem)
            found = {item.get("id"): item for item in body if isinstance(item, dict)}
            result = []
            for target in batch:
                account = found.get(local_id(target))
                if account is not None:
                    result.append(account_row(account, target, rows, instance))
                else:
                    # Fewer records than asked: tell gone from suspended one by one.
                    result.append(self._by_id(client, instance, target, make))
            return result
        return [self._by_id(client, instance, target, make) for target in batch]

    def _by_id(
        self, client: ApiClient, instance: str, target: Target, make: Callable[[], RowFactory]
    ) -> Observation:
        try:
            response = client.get(f"/api/v1/accounts/{local_id(target)}", shape=account_problem)
            body = read_json(response)
        except (RequestFailed, RateLimited, MalformedAnswer) as error:
            # This account's own request failed: the batch's other rows stand.
            return make().status(target, "error", str(error))
        return self._single(response.status_code, body, target, make(), instance)

    def _single(
        self, status_code: int, body: Any, target: Target, rows: RowFactory, instance: str
    ) -> Observation:
        if status_code == 200:
            return account_row(body, target, rows, instance)
        if status_code == 404:
            return rows.status(target, "not_found", error_text(body, status_code))
        if status_code == 410:
            # Mastodon 2.4–3.3 answered 410 Gone for suspended accounts.
            return rows.status(target, "suspended", error_text(body, status_code))
        return rows.status(target, "error", error_text(body, status_code))

    def _supports_multi(self, client: ApiClient, instance: str) -> bool:
        # One version check per instance and run, however many batches ask at once.
        with self._lock:
            instance_lock = self._version_locks.setdefault(instance, threading.Lock())
        with instance_lock:
            if instance not in self._versions:
                self._versions[instance] = instance_version(client)
            return self._versions[instance] >= MULTI_ACCOUNT_VERSION


def instance_version(client: ApiClient) -> tuple[int, int]:
    """The instance's Mastodon version from `/api/v2/instance`; (0, 0) when it does not say."""
    response = client.get("/api/v2/instance", shape=instance_problem)
    if response.status_code != 200:
        return (0, 0)
    try:
        body = read_json(response)
    except MalformedAnswer:
        return (0, 0)
    if isinstance(body, dict) and isinstance(body.get("version"), str):
        return parse_version(body["version"])
    return (0, 0)


def account_problem(body: Any) -> str | None:
    """What keeps a 200 answer of an Account entity from being read, or None."""
    return None if isinstance(body, dict) else "account is not a JSON object"


def accounts_problem(body: Any) -> str | None:
    """What keeps a 200 answer of `accounts?id[]=` from being read, or None."""
    return None if isinstance(body, list) else "answer is not a JSON list of accounts"


def instance_problem(body: Any) -> str | None:
    """What keeps a 200 answer of `/api/v2/instance` from being read, or None."""
    return None if isinstance(body, dict) else "answer is not a JSON object"


def error_text(body: Any, status_code: int) -> str:
    """A one-line description of a Mastodon error answer."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return f"HTTP {status_code}: {body['error']}"
    return f"HTTP {status_code}"


def account_row(account: Any, target: Target, rows: RowFactory, instance: str) -> Observation:
    """The row for one Account entity."""
    problem = account_problem(account)
    if problem is not None:
        raise MalformedAnswer(problem)
    raw_id = as_text(account.get("id"))
    account_id = stored_id(instance, raw_id) if raw_id else None
    username = as_text(account.get("username"))
    handle = f"{username}@{instance}" if username else None
    if account.get("suspended") is True:
        # The API blanks a suspended profile and reports zero counts: not data.
        return rows.status(
            target, "suspended", "suspended by its instance", handle=handle, account_id=account_id
        )
    detail = None
    moved = account.get("moved")
    if isinstance(moved, dict):
        moved_acct = as_text(moved.get("acct"))
        if moved_acct and "@" not in moved_acct:
            moved_acct = f"{moved_acct}@{instance}"  # a local acct omits the instance
        detail = f"moved to @{moved_acct}" if moved_acct else "moved to another account"
    raw_followers = account.get("followers_count")
    if isinstance(raw_followers, int) and not isinstance(raw_followers, bool) and raw_followers < 0:
        # Some servers report -1 when the account hides its follower count.
        return rows.ok(
            target,
            handle=handle,
            account_id=account_id,
            display_name=as_text(account.get("display_name")),
            followers=None,
            following=account.get("following_count"),
            posts=account.get("statuses_count"),
            status="hidden",
            detail=detail or "the account hides its follower count",
            following_field="following_count",
            posts_field="statuses_count",
        )
    return rows.ok(
        target,
        handle=handle,
        account_id=account_id,
        display_name=as_text(account.get("display_name")),
        followers=raw_followers,
        following=account.get("following_count"),
        posts=account.get("statuses_count"),
        detail=detail,
        followers_field="followers_count",
        following_field="following_count",
        posts_field="statuses_count",
    )
