"""What no loader should be given: duplicate keys, nesting too deep, aliases standing for too
much. Checked on libyaml's event stream, which takes no recursion and builds nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Final

import yaml

from followerledger.handles import shown
from followerledger.watchlist.model import Problem, WatchlistError

FAST_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: The deepest nesting of lists and mappings read: a watchlist needs four levels
#: (brands -> brand -> platform -> handles), so anything near this is a mistake.
MAX_DEPTH: Final = 16
#: Nodes aliases may add in all: an alias repeats its anchor's whole subtree, so a few
#: nested aliases (an "alias bomb") would otherwise stand for billions of values.
MAX_ALIAS_NODES: Final = 10_000


def check_structure(text: str, path: Path) -> None:
    """WatchlistError for what no loader should be given: a key twice in one mapping (both
    lines named), nesting beyond MAX_DEPTH, aliases adding more than MAX_ALIAS_NODES nodes.

    Read from libyaml's event stream, which takes no recursion and builds nothing: the
    limits hold before either loader runs. Text it cannot parse is left to the round-trip
    reading, which reports it with its line.
    """
    structure = _Structure(path)
    try:
        for event in yaml.parse(text, Loader=FAST_LOADER):
            structure.read(event)
    except yaml.YAMLError as error:
        # libyaml refuses flow nesting beyond 1,000 levels while scanning ahead, before it
        # gives the events that would show the depth: that is this limit too.
        if "maximum nesting depth" in str(error):
            raise WatchlistError([too_deep(path, getattr(error, "problem_mark", None))]) from None
        return


def too_deep(path: Path, mark: Any = None) -> Problem:
    """The problem of nesting beyond MAX_DEPTH, at `mark`'s line when known."""
    line = mark.line + 1 if mark is not None else None
    return Problem(
        path,
        line,
        f"lists and mappings nested more than {MAX_DEPTH} deep: a watchlist needs four levels",
    )


def _event_line(event: yaml.Event) -> int | None:
    """1-based line where a libyaml event starts."""
    mark = event.start_mark
    return mark.line + 1 if mark is not None else None


@dataclasses.dataclass(slots=True)
class _Open:
    """A list or mapping `check_structure` is inside of."""

    anchor: str | None
    #: Keys seen and their lines; None for a list.
    keys: dict[Any, int | None] | None
    #: Nodes so far, itself included, with what its aliases stand for.
    nodes: int = 1
    next_is_key: bool = True


class _Structure:
    """The lists and mappings open at a point of the event stream, the size of each anchor,
    and the nodes aliases added so far."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stack: list[_Open] = []
        self.anchors: dict[str, int] = {}
        self.added = 0

    def read(self, event: yaml.Event) -> None:
        """Take the next event; WatchlistError when it breaks a rule."""
        if isinstance(event, yaml.CollectionStartEvent):
            if len(self.stack) >= MAX_DEPTH:
                raise WatchlistError([too_deep(self.path, event.start_mark)])
            self._node(event, 0)
            is_mapping = isinstance(event, yaml.MappingStartEvent)
            self.stack.append(_Open(event.anchor, {} if is_mapping else None))
        elif isinstance(event, yaml.CollectionEndEvent):
            closed = self.stack.pop()
            if closed.anchor is not None:
                self.anchors[closed.anchor] = closed.nodes
            if self.stack:
                self.stack[-1].nodes += closed.nodes
        elif isinstance(event, yaml.ScalarEvent):
            self._node(event, 1)
            if event.anchor is not None:
                self.anchors[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event)

    def _alias(self, event: yaml.AliasEvent) -> None:
        size = self.anchors.get(event.anchor or "", 1)
        self.added += size
        if self.added > MAX_ALIAS_NODES:
            raise WatchlistError(
                [
                    Problem(
                        self.path,
                        _event_line(event),
                        f"aliases (*{shown(event.anchor)[1:-1]}) stand for more than "
                        f"{MAX_ALIAS_NODES:,} values: write the lists out instead",
                    )
                ]
            )
        self._node(event, size)

    def _node(self, event: yaml.Event, size: int) -> None:
        """Count a node of `size` in the collection it is in; refuse a key seen twice."""
        if not self.stack:
            return
        parent = self.stack[-1]
        parent.nodes += size
        keys = parent.keys
        if keys is None:
            return
        is_key, parent.next_is_key = parent.next_is_key, not parent.next_is_key
        if is_key and isinstance(event, yaml.ScalarEvent):
            line = _event_line(event)
            first = keys.get(event.value)
            if first is not None:
                raise WatchlistError(
                    [
                        Problem(
                            self.path,
                            line,
                            f"{shown(event.value)} appears twice (lines {first} and {line}) "
                            "in one mapping: merge the two or remove one",
                        )
                    ]
                )
            keys[event.value] = line
