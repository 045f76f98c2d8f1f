"""The watchlist: which brands and accounts to track, validated with file and line, edited in place.

The file is the one thing non-engineers edit, so every problem is reported as
`FILE:LINE: reason`, and edits keep its comments and layout (ruamel.yaml round-trip).

One module per job: `model` (what a watchlist holds, `Problem`, `WatchlistError`),
`reading` (the file's text and the two readings), `structure` (duplicate keys and limits,
checked before either reading), `validation` (each entry, handles read by the platform's
rules), `alert_rules` (the `alerts:` section), `editing` (add and remove, comments kept).
"""

from __future__ import annotations

from followerledger.watchlist.alert_rules import MAX_STALE_HOURS
from followerledger.watchlist.editing import add_account, remove_account
from followerledger.watchlist.model import (
    DEFAULT_MILESTONES,
    MAX_LINE,
    AlertRules,
    Problem,
    WatchedAccount,
    Watchlist,
    WatchlistError,
    iter_rows,
    normalize_handle,
)
from followerledger.watchlist.reading import MAX_FILE_BYTES, load_watchlist
from followerledger.watchlist.structure import MAX_ALIAS_NODES, MAX_DEPTH

__all__ = [
    "DEFAULT_MILESTONES",
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_LINE",
    "MAX_STALE_HOURS",
    "AlertRules",
    "Problem",
    "WatchedAccount",
    "Watchlist",
    "WatchlistError",
    "add_account",
    "iter_rows",
    "load_watchlist",
    "normalize_handle",
    "remove_account",
]
