"""Reading a watchlist file: its text, the structure check, then the streaming reading (the
plain valid case, into columns), the fast libyaml document reading, or the round-trip
(YAML 1.2, with lines) one, whose answer is the one that counts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import yaml

from followerledger.watchlist.model import Problem, Watchlist, WatchlistError
from followerledger.watchlist.streaming import read_streaming
from followerledger.watchlist.structure import FAST_LOADER, check_structure, too_deep
from followerledger.watchlist.validation import validate

if TYPE_CHECKING:
    from ruamel.yaml import YAML

#: Plain scalars YAML 1.2's core schema reads as numbers, booleans or null. The fast loader
#: (YAML 1.1) reads some of them as text (`1e3`, `0o17`): a file holding such text is judged
#: by the round-trip (1.2) reading, like every file the fast loader does not accept.
_YAML_12_NOT_TEXT: Final = re.compile(
    r"null|Null|NULL|~|true|True|TRUE|false|False|FALSE"
    r"|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
    r"|[-+]?\.(inf|Inf|INF)|\.nan|\.NaN|\.NAN"
)

#: The largest watchlist file read (100,000 accounts are about 2 MB, a million about 20 MB):
#: beyond this a file is refused unread.
MAX_FILE_BYTES: Final = 64 * 1024 * 1024
#: The largest file read as a whole document (to report its problems with their lines, to
#: edit it, or when it is not the plain valid case the streaming reading takes): a document
#: costs ~20 times its size in memory.
MAX_DOCUMENT_BYTES: Final = 16 * 1024 * 1024


def round_trip_yaml() -> YAML:
    """The ruamel.yaml round-trip reader and writer, in the watchlist's layout."""
    # Imported here: a snapshot reads its watchlist by the fast path and never needs it.
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def parse(text: str, path: Path) -> tuple[Any, Watchlist]:
    """Parse and validate watchlist text; return the round-trip document and the watchlist."""
    check_structure(text, path)
    return _parse_checked(text, path)


def _parse_checked(text: str, path: Path) -> tuple[Any, Watchlist]:
    """`parse` for text `check_structure` already passed."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    _check_document_size(text, path)
    try:
        document = round_trip_yaml().load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = (error.problem or error.context or "invalid YAML").strip()
        raise WatchlistError([Problem(path, line, f"invalid YAML: {reason}")]) from None
    except YAMLError as error:
        raise WatchlistError([Problem(path, None, f"invalid YAML: {error}")]) from None
    except RecursionError:
        raise WatchlistError([too_deep(path)]) from None
    except Exception as error:  # ruamel raises plain ValueError & co. for some tagged values
        raise WatchlistError(
            [Problem(path, None, f"invalid YAML: a value cannot be read ({error})")]
        ) from None
    return document, validate(document, path)


def _check_document_size(text: str, path: Path) -> None:
    """WatchlistError (one line) when `text` is too large to read as a whole document."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise WatchlistError(
            [
                Problem(
                    path,
                    None,
                    f"the file is {size:,} bytes: a watchlist over {MAX_DOCUMENT_BYTES:,} "
                    "bytes is read only when every handle is valid and written in its "
                    "canonical form, listed once, without anchors, aliases or tags (check "
                    "it in parts, or split it)",
                )
            ]
        )


def read_text(path: Path) -> str:
    """The watchlist file's text, or WatchlistError: missing, too large, or not UTF-8."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise WatchlistError(
                [
                    Problem(
                        path,
                        None,
                        f"the file is {size:,} bytes: a watchlist is at most "
                        f"{MAX_FILE_BYTES:,} bytes (split it, or check it is the right file)",
                    )
                ]
            )
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WatchlistError(
            [Problem(path, None, "file not found: create it or set FOLLOWERLEDGER_WATCHLIST")]
        ) from None
    except UnicodeDecodeError as error:
        raise WatchlistError([Problem(path, None, f"not UTF-8 text: {error.reason}")]) from None


def load_watchlist(path: Path) -> Watchlist:
    """Read and validate a watchlist file; raise WatchlistError with every problem found.

    Every command reads it through here or `parse` (edits), with one meaning: the round-trip
    (YAML 1.2) reading's, after `check_structure` refused duplicate keys and the limits.
    """
    text = read_text(path)
    check_structure(text, path)
    # The plain valid case, straight from libyaml's events into columns: a large watchlist
    # never becomes a document. None for anything else, read as below.
    streamed = read_streaming(text, path, _YAML_12_NOT_TEXT)
    if streamed is not None:
        return streamed
    _check_document_size(text, path)
    # Fast path: libyaml's safe loader reads a large watchlist ten times faster than the
    # round-trip loader. Anything it does not accept as valid is read again round-trip, whose
    # answer (YAML 1.2, with line numbers) is the one that counts. So is one with notes, which
    # name their lines.
    # Duplicate keys, the one thing it reads differently and silently (it keeps the last), were
    # refused above.
    try:
        document = yaml.load(text, Loader=FAST_LOADER)  # noqa: S506
        watchlist = validate(document, path)
    except Exception:
        return _parse_checked(text, path)[1]
    if watchlist.notes or any(_YAML_12_NOT_TEXT.fullmatch(value) for value in _texts(document)):
        return _parse_checked(text, path)[1]
    return watchlist


def _texts(document: Any) -> Iterator[str]:
    """Every string in a loaded document, keys included."""
    if isinstance(document, str):
        yield document
    elif isinstance(document, dict):
        for key, value in document.items():
            yield from _texts(key)
            yield from _texts(value)
    elif isinstance(document, list):
        for item in document:
            yield from _texts(item)
