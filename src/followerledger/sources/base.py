"""What every source shares: the accounts it is asked for and the rows it must give back."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, ClassVar, Final, Protocol

import requests

from followerledger.observation import (
    MAX_COUNT,
    Observation,
    Source,
    Status,
    has_lone_surrogate,
    repaired,
)
from followerledger.run_log import Usage as Usage
from followerledger.sources.http import ApiClient, RateLimited, RequestFailed
from followerledger.sources.platform import Platform

#: The longest `detail` a row keeps; cut only after secrets are redacted, so a secret that
#: straddles the cut is masked whole rather than kept in part.
DETAIL_LIMIT: Final = 500


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """One account a run must report on: the watchlist handle, and its id once resolved."""

    handle: str
    account_id: str | None = None


class PlatformSource(Protocol):
    """A platform's source: splits targets into request batches and fetches one batch."""

    @property
    def platform(self) -> str:
        """The platform's name in the lake (`x`, `bluesky`, …)."""
        ...

    @property
    def batch_size(self) -> int:
        """The most accounts one request may ask for."""
        ...

    @property
    def credential(self) -> str | None:
        """The label of the credential it sends (`X_BEARER_TOKENS[2]`, never the value);
        None for a platform without one."""
        ...

    def plan(self, targets: Sequence[Target]) -> list[list[Target]]:
        """The targets split into request batches, at the API's maximum batch size."""
        ...

    def fetch(self, batch: Sequence[Target], run_id: str) -> list[Observation]:
        """Exactly one row per target, whatever the platform answered."""
        ...

    def usage(self) -> Usage:
        """Requests (and quota units) spent so far by this source."""
        ...


class MalformedAnswer(Exception):
    """The platform's answer could not be understood."""


def batches(targets: Sequence[Target], size: int) -> list[list[Target]]:
    """Targets split into request batches of at most `size`, in order."""
    return [list(targets[start : start + size]) for start in range(0, len(targets), size)]


def read_json(response: requests.Response) -> Any:
    """The answer's JSON body, or MalformedAnswer naming what was wrong."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedAnswer(
            f"HTTP {response.status_code} answer is not valid JSON ({type(error).__name__})"
        ) from None


#: A count as the lake takes it from a string: ASCII digits only (`int()` also reads Arabic-
#: Indic or fullwidth digits), and no longer than MAX_COUNT is.
_COUNT_DIGITS: Final = re.compile(rf"[0-9]{{1,{len(str(MAX_COUNT))}}}")


class BadValue(ValueError):
    """A field of an answer holds a value no real account has; the message names the field."""


def _shown(value: object) -> str:
    """A refused value as an error detail names it, last in the message. Whole: the detail
    is redacted (a platform may answer our key where a value belongs) and only then cut to
    `DETAIL_LIMIT` (`fetch_guarded`), so no piece of a secret survives the cut."""
    if isinstance(value, int) and not isinstance(value, bool):
        return "negative" if value < 0 else f"above {MAX_COUNT:,}"
    return repr(value)


def checked_count(value: object, field: str) -> int | None:
    """A count as the lake stores it: None when absent, else an int in 0..MAX_COUNT.

    Ints and strings of ASCII digits are counts (YouTube sends strings); anything else
    (floats, booleans, other scripts' digits, negatives, numbers beyond MAX_COUNT) is a
    BadValue naming `field`. Floats are refused even when whole: every contract types counts
    as integers, and `1e308` is "whole" too.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if not _COUNT_DIGITS.fullmatch(value):
            raise BadValue(f"{field} is not a count in digits 0-9: {_shown(value)}")
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadValue(f"{field} is not a whole number: {_shown(value)}")
    if not 0 <= value <= MAX_COUNT:
        raise BadValue(f"{field} is {_shown(value)}: not a count any account has")
    return value


class RowFactory:
    """Builds one run's observations for one platform, sharing what all rows have in common.

    It is the one place an answer's values are checked before they become a row: counts
    (`checked_count`), account ids (the spec's `account_id`) and handles that fail become an
    `error` row naming the field (with neither the value nor an id from the answer); lone surrogates
    (half an emoji, as platforms cut names by UTF-16 units) in a display name or detail are
    replaced by U+FFFD, since the rest of the row is good.
    """

    def __init__(self, run_id: str, platform: str, observed_at: datetime, source: Source) -> None:
        # Imported here: the registry imports every source, and every source imports this.
        from followerledger.sources.registry import platform as spec_of

        self.run_id = run_id
        self.platform = platform
        self.observed_at = observed_at
        self.source = source
        spec = spec_of(platform)
        self._id_form = (spec.account_id, spec.id_field)

    def ok(
        self,
        target: Target,
        *,
        handle: str | None,
        account_id: str | None,
        display_name: str | None,
        followers: object,
        following: object,
        posts: object,
        status: Status = "ok",
        detail: str | None = None,
        followers_field: str = "a follower count",
        following_field: str = "a following count",
        posts_field: str = "a post count",
    ) -> Observation:
        """A row with counts (status `ok`, or `hidden`/`protected` with what is known).

        Counts are the answer's raw values, checked here (`checked_count`). An `ok` answer
        without a follower count is an `error` row naming the missing field
        (`followers_field`), never a 0; so is one whose count, id or handle is refused.
        """
        try:
            self._check_identity(handle, account_id)
            counts = (
                checked_count(followers, followers_field),
                checked_count(following, following_field),
                checked_count(posts, posts_field),
            )
        except BadValue as error:
            return self._row(target, "error", str(error))
        if status == "ok" and counts[0] is None:
            return self.status(
                target,
                "error",
                f"answer lacks {followers_field}",
                handle=handle,
                account_id=account_id,
            )
        return self._row(
            target,
            status,
            detail,
            handle=handle,
            account_id=account_id,
            display_name=display_name,
            counts=counts,
        )

    def status(
        self,
        target: Target,
        status: Status,
        detail: str | None,
        *,
        handle: str | None = None,
        account_id: str | None = None,
    ) -> Observation:
        """A row without counts, whose status and detail say why."""
        try:
            self._check_identity(handle, account_id)
        except BadValue as error:
            return self._row(target, "error", str(error))
        return self._row(target, status, detail, handle=handle, account_id=account_id)

    def _check_identity(self, handle: str | None, account_id: str | None) -> None:
        """BadValue unless the answer's handle and id could be this platform's."""
        if handle is not None and has_lone_surrogate(handle):
            raise BadValue("handle holds half a character (a lone surrogate)")
        if account_id is None:
            return
        pattern, field = self._id_form
        if not pattern.fullmatch(account_id):
            raise BadValue(f"{field} is not a {self.platform} account id: {_shown(account_id)}")

    def _row(
        self,
        target: Target,
        status: Status,
        detail: str | None,
        *,
        handle: str | None = None,
        account_id: str | None = None,
        display_name: str | None = None,
        counts: tuple[int | None, int | None, int | None] = (None, None, None),
    ) -> Observation:
        return Observation(
            run_id=self.run_id,
            observed_at=self.observed_at,
            platform=self.platform,
            handle=handle or target.handle,
            status=status,
            source=self.source,
            account_id=account_id or target.account_id,
            display_name=repaired(display_name) if display_name is not None else None,
            followers=counts[0],
            following=counts[1],
            posts=counts[2],
            detail=repaired(detail) if detail is not None else None,
            requested_handle=target.handle,
        )


def as_text(value: Any) -> str | None:
    """A string field, or None when absent or not a string."""
    return value if isinstance(value, str) and value else None


def fetch_guarded(
    client: ApiClient,
    batch: Sequence[Target],
    run_id: str,
    fetch: Callable[[Callable[[], RowFactory]], list[Observation]],
) -> list[Observation]:
    """Run `fetch`, turning every failure into `error` rows, and enforce one row per target.

    `fetch` gets a factory to call once the answer is in, so rows carry the answer's time and
    the right `source` (`emulator` when the server said it is the emulator).
    """

    def factory() -> RowFactory:
        source: Source = "emulator" if client.emulated else "api"
        return RowFactory(run_id, client.platform, client.clock(), source)

    try:
        rows = fetch(factory)
    except RateLimited as error:
        rows = [factory().status(target, "error", str(error)) for target in batch]
    except (RequestFailed, MalformedAnswer) as error:
        rows = [factory().status(target, "error", client.redact(str(error))) for target in batch]
    except Exception as error:  # a parser bug must not lose the run: record it as data
        detail = client.redact(f"unexpected {type(error).__name__}: {error}")
        rows = [factory().status(target, "error", detail) for target in batch]
    # Whatever a platform echoes back (an error detail quoting our token) is redacted here,
    # once, for every source, and only then cut to length.
    return [
        dataclasses.replace(row, detail=client.redact(row.detail)[:DETAIL_LIMIT])
        if row.detail
        else row
        for row in one_row_per_target(batch, rows, factory)
    ]


class ApiSource:
    """The header every source with one API client shares: its `spec`'s name and batch size,
    usage counted on the client, batches of `batch_size` in order, and `fetch` guarded by
    `fetch_guarded`. A source module then holds only its request shape and its parser
    (`_fetch`)."""

    spec: ClassVar[Platform]

    def __init__(self, client: ApiClient, credential: str | None = None) -> None:
        self.client = client
        self._credential = credential

    @property
    def credential(self) -> str | None:
        """The label of the credential the client sends (None: the platform takes none)."""
        return self._credential

    @property
    def platform(self) -> str:
        """The spec's name."""
        return self.spec.name

    @property
    def batch_size(self) -> int:
        """The spec's batch size."""
        return self.spec.batch_size

    def plan(self, targets: Sequence[Target]) -> list[list[Target]]:
        """The targets in order, `batch_size` per request."""
        return batches(targets, self.batch_size)

    def usage(self) -> Usage:
        """Requests made so far."""
        return Usage(self.client.requests_made)

    def fetch(self, batch: Sequence[Target], run_id: str) -> list[Observation]:
        """The batch's rows as `_fetch` reads them; exactly one row per target."""
        return fetch_guarded(self.client, batch, run_id, lambda make: self._fetch(batch, make))

    def _fetch(self, batch: Sequence[Target], make: Callable[[], RowFactory]) -> list[Observation]:
        raise NotImplementedError


def one_row_per_target(
    batch: Sequence[Target], rows: list[Observation], factory: Callable[[], RowFactory]
) -> list[Observation]:
    """Exactly one row per target, in batch order: extra rows dropped, missing ones `error`."""
    by_requested: dict[str, Observation] = {}
    for row in rows:
        if row.requested_handle is not None and row.requested_handle not in by_requested:
            by_requested[row.requested_handle] = row
    result = []
    for target in batch:
        found = by_requested.get(target.handle)
        result.append(
            found
            if found is not None
            else factory().status(target, "error", "absent from the platform's answer")
        )
    return result
