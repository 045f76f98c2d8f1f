"""What every source shares: the accounts it is asked for and the rows it must give back."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final, Protocol

import requests

from followerledger.observation import Observation, Source, Status
from followerledger.sources.http import ApiClient, RateLimited, RequestFailed

#: The longest `detail` a row keeps; cut only after secrets are redacted, so a secret that
#: straddles the cut is masked whole rather than kept in part.
DETAIL_LIMIT: Final = 500


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """One account a run must report on: the watchlist handle, and its id once resolved."""

    handle: str
    account_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Usage:
    """What a source spent in a run: HTTP requests, and quota units where the API counts them."""

    requests: int
    quota_units: int | None = None


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


class RowFactory:
    """Builds one run's observations for one platform, sharing what all rows have in common."""

    def __init__(self, run_id: str, platform: str, observed_at: datetime, source: Source) -> None:
        self.run_id = run_id
        self.platform = platform
        self.observed_at = observed_at
        self.source = source

    def ok(
        self,
        target: Target,
        *,
        handle: str | None,
        account_id: str | None,
        display_name: str | None,
        followers: int | None,
        following: int | None,
        posts: int | None,
        status: Status = "ok",
        detail: str | None = None,
        followers_field: str = "a follower count",
    ) -> Observation:
        """A row with counts (status `ok`, or `hidden`/`protected` with what is known).

        An `ok` answer without a follower count is an `error` row naming the missing field
        (`followers_field`), never a 0.
        """
        if status == "ok" and followers is None:
            return self.status(
                target,
                "error",
                f"answer lacks {followers_field}",
                handle=handle,
                account_id=account_id,
            )
        return Observation(
            run_id=self.run_id,
            observed_at=self.observed_at,
            platform=self.platform,
            handle=handle or target.handle,
            status=status,
            source=self.source,
            account_id=account_id or target.account_id,
            display_name=display_name,
            followers=followers,
            following=following,
            posts=posts,
            detail=detail,
            requested_handle=target.handle,
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
        return Observation(
            run_id=self.run_id,
            observed_at=self.observed_at,
            platform=self.platform,
            handle=handle or target.handle,
            status=status,
            source=self.source,
            account_id=account_id or target.account_id,
            detail=detail,
            requested_handle=target.handle,
        )


def as_count(value: Any) -> int | None:
    """A follower-style count as an int: ints and digit strings; negatives mean unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


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
