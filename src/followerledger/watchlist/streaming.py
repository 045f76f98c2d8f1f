"""The fast reading of a large watchlist: libyaml's event stream read straight into columns
(`accounts.WatchedAccounts`), never building the document, so a million accounts load in
memory proportional to their handles' bytes.

It answers only for the plain, valid case: every handle a plain or quoted text scalar
written in its canonical form, listed once, no anchors, aliases or tags, nothing YAML 1.2
would read otherwise. For anything else it answers None and the caller reads the file the
way that gives the answer that counts (the document readings, `reading.load_watchlist`).
The small sections (`landscapes:`, `alerts:`) are built as objects from their events and
checked by the same functions the document reading uses.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import yaml

from followerledger.handles import HandleError, read_handle
from followerledger.observation import has_lone_surrogate
from followerledger.sources import registry
from followerledger.watchlist.accounts import AccountsBuilder
from followerledger.watchlist.alert_rules import parse_alerts
from followerledger.watchlist.model import Problem, Watchlist, normalize_handle
from followerledger.watchlist.structure import FAST_LOADER
from followerledger.watchlist.validation import read_landscapes

_STR: Final = "tag:yaml.org,2002:str"


class _NotPlain(Exception):
    """The file is not the plain valid case: the caller reads it another way."""


def read_streaming(text: str, path: Path, not_text: re.Pattern[str]) -> Watchlist | None:
    """The watchlist of `text` read from its event stream, or None when the file is not
    the plain valid case (`not_text`: plain scalars YAML 1.2 reads as something else)."""
    try:
        return _Reader(text, path, not_text).read()
    except Exception:  # _NotPlain, or anything libyaml or a constructor raises: not plain
        return None


class _Reader:
    def __init__(self, text: str, path: Path, not_text: re.Pattern[str]) -> None:
        self.loader = FAST_LOADER(text)
        self.events: Iterator[yaml.Event] = iter(self._events())
        self.path = path
        self.not_text = not_text
        self.accounts = AccountsBuilder()
        self.hashes = array("q")
        # A bitmap of the (platform, key) hashes seen, ~4 bits per byte of text (at least
        # 80 per account): a bit already set makes its hash a candidate duplicate.
        self.seen = bytearray(max(64, len(text) // 2))
        self.candidates: set[int] = set()

    def _events(self) -> Iterator[yaml.Event]:
        try:
            while self.loader.check_event():
                yield self.loader.get_event()
        finally:
            self.loader.dispose()

    def _next(self) -> yaml.Event:
        event = next(self.events, None)
        if event is None:
            raise _NotPlain
        if getattr(event, "anchor", None) is not None or isinstance(event, yaml.AliasEvent):
            raise _NotPlain
        if isinstance(event, yaml.CollectionStartEvent) and event.tag is not None:
            raise _NotPlain
        return event

    def read(self) -> Watchlist:
        for kind in (yaml.StreamStartEvent, yaml.DocumentStartEvent, yaml.MappingStartEvent):
            event = self._next()
            if not isinstance(event, kind) or getattr(event, "tag", None) is not None:
                raise _NotPlain
        sections: dict[str, Any] = {}
        brands: dict[str, None] = {}
        while not isinstance(event := self._next(), yaml.MappingEndEvent):
            key = self._text(event)
            if key == "brands":
                self._brands(brands)
                sections[key] = brands
            elif key in ("landscapes", "alerts"):
                sections[key] = self._value(self._next())
            else:
                raise _NotPlain  # an unknown section: a problem, reported with its line
        if not isinstance(self._next(), yaml.DocumentEndEvent):
            raise _NotPlain
        if not isinstance(self._next(), yaml.StreamEndEvent):
            raise _NotPlain
        problems: list[Problem] = []
        found = _Problems(path=self.path, problems=problems)
        landscapes = read_landscapes(sections, brands, found)
        alerts = parse_alerts(sections, self.path, problems)
        if problems or self._duplicates():
            raise _NotPlain
        return Watchlist(self.path, self.accounts.build(), landscapes, alerts)

    def _text(self, event: yaml.Event) -> str:
        """A scalar that the fast loader and YAML 1.2 both read as this text."""
        if not isinstance(event, yaml.ScalarEvent) or event.tag not in (None, "!"):
            raise _NotPlain
        value: str = event.value
        if event.implicit[0]:
            tag = self.loader.resolve(yaml.ScalarNode, value, event.implicit)
            if tag != _STR or self.not_text.fullmatch(value):
                raise _NotPlain
        elif event.tag == "!" or self.not_text.fullmatch(value):
            raise _NotPlain
        return value

    def _brands(self, brands: dict[str, None]) -> None:
        if not isinstance(self._next(), yaml.MappingStartEvent):
            raise _NotPlain
        while not isinstance(event := self._next(), yaml.MappingEndEvent):
            brand = self._text(event)
            if not brand.strip() or has_lone_surrogate(brand):
                raise _NotPlain
            brands[brand] = None
            if not isinstance(self._next(), yaml.MappingStartEvent):
                raise _NotPlain
            while not isinstance(event := self._next(), yaml.MappingEndEvent):
                platform = self._text(event)
                if platform not in registry.names():
                    raise _NotPlain
                handles = self._next()
                if isinstance(handles, yaml.ScalarEvent):
                    self._account(brand, platform, self._text(handles))
                    continue
                if not isinstance(handles, yaml.SequenceStartEvent):
                    raise _NotPlain
                while not isinstance(event := self._next(), yaml.SequenceEndEvent):
                    self._account(brand, platform, self._text(event))

    def _account(self, brand: str, platform: Any, handle: str) -> None:
        try:
            canonical = read_handle(platform, handle)
        except HandleError:
            raise _NotPlain from None
        if canonical != handle:
            raise _NotPlain  # a note, which names its line
        key = normalize_handle(platform, handle)
        hashed = hash((platform, key))
        bit = hashed % (len(self.seen) * 8)
        if self.seen[bit >> 3] & (1 << (bit & 7)):
            self.candidates.add(hashed)
        else:
            self.seen[bit >> 3] |= 1 << (bit & 7)
        self.hashes.append(hashed)
        self.accounts.append(brand, platform, handle, None, key)

    def _duplicates(self) -> bool:
        """Whether two accounts may share a (platform, handle key). Only the hashes whose
        bit was already set are counted (a few percent, not a set of every account), and a
        rare hash collision only sends the file to the document reading, which decides."""
        if not self.candidates:
            return False
        counts: dict[int, int] = {}
        for hashed in self.hashes:
            if hashed in self.candidates:
                counts[hashed] = counts.get(hashed, 0) + 1
                if counts[hashed] > 1:
                    return True
        return False

    def _value(self, event: yaml.Event) -> Any:
        """A small section built as the fast loader would build it."""
        if isinstance(event, yaml.ScalarEvent):
            if event.tag not in (None, "!"):
                raise _NotPlain
            node = yaml.ScalarNode(
                self.loader.resolve(yaml.ScalarNode, event.value, event.implicit),
                event.value,
                style=event.style,
            )
            value = self.loader.construct_object(node, deep=True)
            if isinstance(value, str) and self.not_text.fullmatch(value):
                raise _NotPlain
            return value
        if isinstance(event, yaml.SequenceStartEvent):
            items = []
            while not isinstance(item := self._next(), yaml.SequenceEndEvent):
                items.append(self._value(item))
            return items
        if isinstance(event, yaml.MappingStartEvent):
            mapping: dict[Any, Any] = {}
            while not isinstance(key := self._next(), yaml.MappingEndEvent):
                mapping[self._text(key)] = self._value(self._next())
            return mapping
        raise _NotPlain


class _Problems:
    """What `read_landscapes` records problems on."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems

    def problem(self, line: int | None, reason: str) -> None:
        self.problems.append(Problem(self.path, line, reason))
