"""The watched accounts held as columns (`WatchedAccounts`): a million of them in tens of
megabytes, not the gigabyte a million `WatchedAccount` objects and their strings take.

Handles and their comparison keys are UTF-8 bytes with offsets (Arrow's string layout, so
`columns()` hands them to Arrow without a copy), brands and platforms are small indexes.
A `WatchedAccount` is built only when an account is read.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Iterable, Iterator, Sequence
from typing import Final, overload

from followerledger.observation import Platform
from followerledger.sources import registry
from followerledger.watchlist.model import WatchedAccount, normalize_handle

#: Accounts decoded at a time when iterating (bounded transient memory).
_CHUNK: Final = 4096


@dataclasses.dataclass(frozen=True, slots=True)
class AccountColumns:
    """The raw columns of `WatchedAccounts`, for readers that take them whole (Arrow)."""

    brands: tuple[str, ...]
    brand_of: array[int]
    platforms: tuple[Platform, ...]
    platform_of: array[int]
    handles: bytes
    handle_offsets: array[int]
    keys: bytes
    key_offsets: array[int]


class AccountsBuilder:
    """Appends accounts in file order; `build` gives the `WatchedAccounts`."""

    def __init__(self) -> None:
        self._brands: dict[str, int] = {}
        self._platforms: dict[str, int] = {name: i for i, name in enumerate(registry.names())}
        self._brand_of = array("i")
        self._platform_of = array("b")
        self._handles = bytearray()
        self._handle_offsets = array("i", [0])
        self._keys = bytearray()
        self._key_offsets = array("i", [0])
        self._lines = array("i")

    def append(
        self, brand: str, platform: Platform, handle: str, line: int | None, key: str | None = None
    ) -> None:
        """One account (`key`: its `normalize_handle`, computed when not given)."""
        self._brand_of.append(self._brands.setdefault(brand, len(self._brands)))
        self._platform_of.append(self._platforms[platform])
        self._handles += handle.encode("utf-8", "surrogatepass")
        self._handle_offsets.append(len(self._handles))
        self._keys += (key if key is not None else normalize_handle(platform, handle)).encode(
            "utf-8", "surrogatepass"
        )
        self._key_offsets.append(len(self._keys))
        self._lines.append(0 if line is None else line)

    def __len__(self) -> int:
        return len(self._brand_of)

    def build(self) -> WatchedAccounts:
        """The accounts appended so far."""
        lines = self._lines if any(self._lines) else None
        return WatchedAccounts(
            AccountColumns(
                tuple(self._brands),
                self._brand_of,
                tuple(self._platforms),
                self._platform_of,
                bytes(self._handles),
                self._handle_offsets,
                bytes(self._keys),
                self._key_offsets,
            ),
            lines,
        )


class WatchedAccounts(Sequence[WatchedAccount]):
    """The watched accounts in file order, as a read-only sequence of `WatchedAccount`."""

    __slots__ = ("_columns", "_lines")

    def __init__(self, columns: AccountColumns, lines: array[int] | None) -> None:
        self._columns = columns
        self._lines = lines

    @classmethod
    def of(cls, accounts: Iterable[WatchedAccount]) -> WatchedAccounts:
        """Accounts given one by one."""
        if isinstance(accounts, WatchedAccounts):
            return accounts
        builder = AccountsBuilder()
        for account in accounts:
            builder.append(account.brand, account.platform, account.handle, account.line)
        return builder.build()

    def columns(self) -> AccountColumns:
        """The raw columns (shared, not copied: do not change them)."""
        return self._columns

    def __len__(self) -> int:
        return len(self._columns.brand_of)

    @overload
    def __getitem__(self, index: int) -> WatchedAccount: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[WatchedAccount, ...]: ...
    def __getitem__(self, index: int | slice) -> WatchedAccount | tuple[WatchedAccount, ...]:
        if isinstance(index, slice):
            return tuple(self._account(i) for i in range(*index.indices(len(self))))
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("account index out of range")
        return self._account(index)

    def _account(self, i: int) -> WatchedAccount:
        c = self._columns
        handle = c.handles[c.handle_offsets[i] : c.handle_offsets[i + 1]]
        line = self._lines[i] if self._lines is not None else 0
        return WatchedAccount(
            c.brands[c.brand_of[i]],
            c.platforms[c.platform_of[i]],
            handle.decode("utf-8", "surrogatepass"),
            line or None,
        )

    def __iter__(self) -> Iterator[WatchedAccount]:
        for start in range(0, len(self), _CHUNK):
            yield from self[start : start + _CHUNK]

    def on_platform(self, platform: str) -> array[int]:
        """The indexes of the accounts watched on one platform, in file order (none built)."""
        c = self._columns
        if platform not in c.platforms:
            return array("i")
        wanted = c.platforms.index(platform)
        return array("i", (i for i, p in enumerate(c.platform_of) if p == wanted))

    def handle(self, i: int) -> str:
        """Account `i`'s handle as written (no account built)."""
        c = self._columns
        return c.handles[c.handle_offsets[i] : c.handle_offsets[i + 1]].decode(
            "utf-8", "surrogatepass"
        )

    def key(self, i: int) -> str:
        """Account `i`'s handle as compared on its platform (`normalize_handle`)."""
        c = self._columns
        return c.keys[c.key_offsets[i] : c.key_offsets[i + 1]].decode("utf-8", "surrogatepass")

    def keys(self) -> Iterator[tuple[Platform, str]]:
        """(platform, handle key) of every account, in file order, without building them."""
        c = self._columns
        for i in range(len(self)):
            key = c.keys[c.key_offsets[i] : c.key_offsets[i + 1]]
            yield c.platforms[c.platform_of[i]], key.decode("utf-8", "surrogatepass")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"WatchedAccounts({len(self)} accounts)"
