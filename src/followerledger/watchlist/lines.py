"""Where a value of a round-trip (ruamel.yaml) document is written."""

from __future__ import annotations

from typing import Any


def line_of(node: Any, key: Any = None, index: int | None = None) -> int | None:
    """1-based line of a mapping key, a sequence item, or the node itself; None when the
    document was read without positions (the fast loader)."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if key is not None:
            return int(lc.key(key)[0]) + 1
        if index is not None:
            return int(lc.item(index)[0]) + 1
        return int(lc.line) + 1
    except (KeyError, IndexError, TypeError):
        return None
