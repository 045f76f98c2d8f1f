"""Editing the watchlist file: accounts added and removed, its comments and layout kept
(ruamel.yaml round-trip), the result validated before it replaces the file."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import Any

from followerledger.handles import HandleError, read_handle
from followerledger.watchlist.model import Problem, Watchlist, WatchlistError, normalize_handle
from followerledger.watchlist.reading import parse, read_text, round_trip_yaml


def _write_validated(path: Path, document: Any) -> Watchlist:
    """Serialise the edited document, validate the result, and replace the file atomically."""
    buffer = io.StringIO()
    round_trip_yaml().dump(document, buffer)
    text = buffer.getvalue()
    _, watchlist = parse(text, path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return watchlist


def _read_document(path: Path) -> Any:
    return parse(read_text(path), path)[0]


def add_account(path: Path, brand: str, platform: str, handle: str) -> Watchlist:
    """Add one account under a brand (created if new) as its canonical handle (see
    `read_handle`), keeping the file's comments."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq  # an edit's, not a run's

    try:
        canonical = read_handle(platform, handle)
    except HandleError as error:
        raise WatchlistError([Problem(path, None, str(error))]) from None
    document = _read_document(path)
    if document is None:  # an empty file, or one holding only comments
        document = CommentedMap()
    if "brands" not in document or document["brands"] is None:
        document["brands"] = CommentedMap()
    brands = document["brands"]
    if brand not in brands or brands[brand] is None:
        brands[brand] = CommentedMap()
    platforms = brands[brand]
    if platform not in platforms or platforms[platform] is None:
        sequence = CommentedSeq()
        sequence.fa.set_flow_style()
        platforms[platform] = sequence
    handles = platforms[platform]
    if isinstance(handles, str):
        handles = platforms[platform] = CommentedSeq([handles])
    handles.append(canonical)
    return _write_validated(path, document)


def remove_account(path: Path, platform: str, handle: str) -> Watchlist:
    """Remove one account wherever it is listed, keeping the file's comments."""
    from ruamel.yaml.comments import CommentedMap  # an edit's, not a run's

    document = _read_document(path) or CommentedMap()
    wanted = _written_key(platform, handle)
    for brand, platforms in (document.get("brands") or {}).items():
        handles = (platforms or {}).get(platform)
        if not isinstance(handles, list):
            continue
        for index, listed in enumerate(handles):
            if _written_key(platform, str(listed)) == wanted:
                del handles[index]
                if not handles:
                    del platforms[platform]
                if not platforms:
                    _drop_brand(path, document, brand)
                return _write_validated(path, document)
    raise WatchlistError([Problem(path, None, f"{platform} handle {handle!r} is not listed")])


def _written_key(platform: str, written: str) -> str:
    """The comparison key of a handle in any written form (as written when it is invalid)."""
    with contextlib.suppress(HandleError):
        written = read_handle(platform, written)
    return normalize_handle(platform, written)


def _drop_brand(path: Path, document: Any, brand: str) -> None:
    """Remove a brand left without accounts, refusing if a landscape still names it."""
    for name, members in (document.get("landscapes") or {}).items():
        if brand in (members or []):
            raise WatchlistError(
                [
                    Problem(
                        path,
                        None,
                        f"removing the last account of {brand!r} would leave landscape "
                        f"{name!r} naming an unknown brand: edit the landscape first",
                    )
                ]
            )
    del document["brands"][brand]
