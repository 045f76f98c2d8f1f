"""The watchlist: which brands and accounts to track, validated with file and line, edited in place.

The file is the one thing non-engineers edit, so every problem is reported as
`FILE:LINE: reason`, and edits keep its comments and layout (ruamel.yaml round-trip).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from followerledger.handles import HandleError, read_handle, shown
from followerledger.observation import MAX_COUNT, Platform, has_lone_surrogate
from followerledger.sources import registry

_FAST_LOADER: Final = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: Plain scalars YAML 1.2's core schema reads as numbers, booleans or null. The fast loader
#: (YAML 1.1) reads some of them as text (`1e3`, `0o17`): a file holding such text is judged
#: by the round-trip (1.2) reading, like every file the fast loader does not accept.
_YAML_12_NOT_TEXT: Final = re.compile(
    r"null|Null|NULL|~|true|True|TRUE|false|False|FALSE"
    r"|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?"
    r"|[-+]?\.(inf|Inf|INF)|\.nan|\.NaN|\.NAN"
)

_TOP_LEVEL_KEYS: Final = ("brands", "landscapes", "alerts")

#: The longest line a problem is shown as: a value quoted in it is cut to fit.
MAX_LINE: Final = 300
#: The largest watchlist file read (a watchlist of 100,000 accounts is about 3 MB).
MAX_FILE_BYTES: Final = 16 * 1024 * 1024
#: The deepest nesting of lists and mappings read: a watchlist needs four levels
#: (brands -> brand -> platform -> handles), so anything near this is a mistake.
MAX_DEPTH: Final = 16
#: Nodes aliases may add in all: an alias repeats its anchor's whole subtree, so a few
#: nested aliases (an "alias bomb") would otherwise stand for billions of values.
MAX_ALIAS_NODES: Final = 10_000
#: The longest `alerts.stale_hours` taken: a year (null turns the rule off).
MAX_STALE_HOURS: Final = 24 * 366

#: Follower counts worth an alert when an account reaches them.
DEFAULT_MILESTONES: Final = (1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000)


@dataclasses.dataclass(frozen=True, slots=True)
class AlertRules:
    """When to send an alert: the watchlist's optional `alerts:` section (README "Alerts")."""

    milestones: tuple[int, ...] = DEFAULT_MILESTONES
    drop_percent: float | None = 10.0
    stale_hours: float | None = 6.0
    failed_runs: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class WatchedAccount:
    """One account on one platform, by its canonical handle (`read_handle`)."""

    brand: str
    platform: Platform
    handle: str
    #: Where it is written; None when the file was read by the fast (line-less) loader.
    line: int | None

    @property
    def key(self) -> str:
        """The handle normalised for comparison on its platform."""
        return normalize_handle(self.platform, self.handle)


@dataclasses.dataclass(frozen=True, slots=True)
class Watchlist:
    """A validated watchlist."""

    path: Path
    accounts: tuple[WatchedAccount, ...]
    landscapes: dict[str, tuple[str, ...]]
    alerts: AlertRules = dataclasses.field(default_factory=AlertRules)
    #: Handles written in another accepted form than the canonical one, one line each
    #: (`x handle '@Apple' read as 'Apple'`): worth saying, not wrong.
    notes: tuple[Problem, ...] = ()

    @property
    def brands(self) -> tuple[str, ...]:
        """Brand names in file order."""
        return tuple(dict.fromkeys(account.brand for account in self.accounts))

    def for_platform(self, platform: str) -> list[WatchedAccount]:
        """The accounts watched on one platform, in file order."""
        return [account for account in self.accounts if account.platform == platform]

    @property
    def platforms(self) -> tuple[Platform, ...]:
        """Platforms with at least one watched account, in canonical order."""
        present = {account.platform for account in self.accounts}
        return tuple(platform for platform in registry.names() if platform in present)


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One line about a place in the watchlist: a reason it is invalid, or a note."""

    path: Path
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else str(self.path)
        text = " ".join(f"{where}: {self.reason}".splitlines())
        return text if len(text) <= MAX_LINE else text[: MAX_LINE - 1] + "…"


class WatchlistError(ValueError):
    """The watchlist cannot be used; `problems` holds one line per reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


def normalize_handle(platform: str, handle: str) -> str:
    """The handle as compared on its platform (case-insensitive, without a leading '@')."""
    # Channel ids and DIDs are case-sensitive identifiers; handles are not (each spec's
    # `exact_prefix`). Keep in step with the `handle_key` macro in sql/macros.sql.
    return registry.platform(platform).normalize(handle)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 4096
    return yaml


def _line(node: Any, key: Any = None, index: int | None = None) -> int | None:
    """1-based line of a mapping key, a sequence item, or the node itself."""
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


def _event_line(event: yaml.Event) -> int | None:
    """1-based line where a libyaml event starts."""
    mark = event.start_mark
    return mark.line + 1 if mark is not None else None


@dataclasses.dataclass(slots=True)
class _Open:
    """A list or mapping `_check_structure` is inside of."""

    anchor: str | None
    #: Keys seen and their lines; None for a list.
    keys: dict[Any, int | None] | None
    #: Nodes so far, itself included, with what its aliases stand for.
    nodes: int = 1
    next_is_key: bool = True


def _check_structure(text: str, path: Path) -> None:
    """WatchlistError for what no loader should be given: a key twice in one mapping (both
    lines named), nesting beyond MAX_DEPTH, aliases adding more than MAX_ALIAS_NODES nodes.

    Read from libyaml's event stream, which takes no recursion and builds nothing: the
    limits hold before either loader runs. Text it cannot parse is left to the round-trip
    reading, which reports it with its line.
    """
    stack: list[_Open] = []
    anchors: dict[str, int] = {}
    added = 0

    def node(event: yaml.Event, size: int) -> None:
        if not stack:
            return
        parent = stack[-1]
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
                            path,
                            line,
                            f"{shown(event.value)} appears twice (lines {first} and {line}) "
                            "in one mapping: merge the two or remove one",
                        )
                    ]
                )
            keys[event.value] = line

    try:
        for event in yaml.parse(text, Loader=_FAST_LOADER):
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    raise WatchlistError([_too_deep(path, event.start_mark)])
                node(event, 0)
                is_mapping = isinstance(event, yaml.MappingStartEvent)
                stack.append(_Open(event.anchor, {} if is_mapping else None))
            elif isinstance(event, yaml.CollectionEndEvent):
                closed = stack.pop()
                if closed.anchor is not None:
                    anchors[closed.anchor] = closed.nodes
                if stack:
                    stack[-1].nodes += closed.nodes
            elif isinstance(event, yaml.ScalarEvent):
                node(event, 1)
                if event.anchor is not None:
                    anchors[event.anchor] = 1
            elif isinstance(event, yaml.AliasEvent):
                size = anchors.get(event.anchor or "", 1)
                added += size
                if added > MAX_ALIAS_NODES:
                    raise WatchlistError(
                        [
                            Problem(
                                path,
                                _event_line(event),
                                f"aliases (*{shown(event.anchor)[1:-1]}) stand for more than "
                                f"{MAX_ALIAS_NODES:,} values: write the lists out instead",
                            )
                        ]
                    )
                node(event, size)
    except yaml.YAMLError as error:
        # libyaml refuses flow nesting beyond 1,000 levels while scanning ahead, before it
        # gives the events that would show the depth: that is this limit too.
        if "maximum nesting depth" in str(error):
            raise WatchlistError([_too_deep(path, getattr(error, "problem_mark", None))]) from None
        return


def _too_deep(path: Path, mark: Any = None) -> Problem:
    """The problem of nesting beyond MAX_DEPTH, at `mark`'s line when known."""
    line = mark.line + 1 if mark is not None else None
    return Problem(
        path,
        line,
        f"lists and mappings nested more than {MAX_DEPTH} deep: a watchlist needs four levels",
    )


def _parse(text: str, path: Path) -> tuple[Any, Watchlist]:
    """Parse and validate watchlist text; return the round-trip document and the watchlist."""
    _check_structure(text, path)
    return _parse_checked(text, path)


def _parse_checked(text: str, path: Path) -> tuple[Any, Watchlist]:
    """`_parse` for text `_check_structure` already passed."""
    try:
        document = _yaml().load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = (error.problem or error.context or "invalid YAML").strip()
        raise WatchlistError([Problem(path, line, f"invalid YAML: {reason}")]) from None
    except YAMLError as error:
        raise WatchlistError([Problem(path, None, f"invalid YAML: {error}")]) from None
    except RecursionError:
        raise WatchlistError([_too_deep(path)]) from None
    except Exception as error:  # ruamel raises plain ValueError & co. for some tagged values
        raise WatchlistError(
            [Problem(path, None, f"invalid YAML: a value cannot be read ({error})")]
        ) from None
    return document, _validate(document, path)


def _validate(document: Any, path: Path) -> Watchlist:
    """The watchlist a parsed document describes, or WatchlistError with every problem (with
    line numbers when the document is a round-trip one)."""
    if document is None:
        document = CommentedMap()
    if not isinstance(document, dict):
        raise WatchlistError(
            [Problem(path, 1, "expected a mapping with 'brands:' (and optionally 'landscapes:')")]
        )

    problems: list[Problem] = []
    for key in document:
        if key not in _TOP_LEVEL_KEYS:
            problems.append(
                Problem(
                    path,
                    _line(document, key=key),
                    f"unknown section {shown(key)}: expected 'brands', 'landscapes' or 'alerts'",
                )
            )

    accounts: list[WatchedAccount] = []
    notes: list[Problem] = []
    seen: dict[tuple[str, str], WatchedAccount] = {}
    brands = document.get("brands")
    if brands is None:
        brands = CommentedMap()
    if not isinstance(brands, dict):
        problems.append(
            Problem(
                path, _line(document, key="brands"), "'brands' must map brand names to platforms"
            )
        )
        brands = CommentedMap()
    for brand, platforms in brands.items():
        brand_line = _line(brands, key=brand)
        if not isinstance(brand, str) or not brand.strip() or has_lone_surrogate(brand):
            problems.append(Problem(path, brand_line, f"brand name {shown(brand)} must be text"))
            continue
        if platforms is None:
            problems.append(Problem(path, brand_line, f"brand {shown(brand)} lists no accounts"))
            continue
        if not isinstance(platforms, dict):
            problems.append(
                Problem(
                    path,
                    brand_line,
                    f"brand {shown(brand)} must map platforms "
                    f"({', '.join(registry.names())}) to handles",
                )
            )
            continue
        for platform, handles in platforms.items():
            platform_line = _line(platforms, key=platform)
            if platform not in registry.names():
                problems.append(
                    Problem(
                        path,
                        platform_line,
                        f"unknown platform {shown(platform)} under brand {shown(brand)}: "
                        f"use one of {', '.join(registry.names())}",
                    )
                )
                continue
            if isinstance(handles, str):
                handles = CommentedSeq([handles])
            if not isinstance(handles, list):
                problems.append(
                    Problem(
                        path, platform_line, f"{platform} handles of {shown(brand)} must be a list"
                    )
                )
                continue
            for index, handle in enumerate(handles):
                line = _line(handles, index=index) or platform_line
                if not isinstance(handle, str):
                    problems.append(
                        Problem(
                            path,
                            line,
                            f"{platform} handle {shown(handle)} must be text: put it in quotes",
                        )
                    )
                    continue
                try:
                    canonical = read_handle(platform, handle)
                except HandleError as error:
                    problems.append(Problem(path, line, str(error)))
                    continue
                if canonical != handle:
                    notes.append(
                        Problem(path, line, f"{platform} handle {handle!r} read as {canonical!r}")
                    )
                account = WatchedAccount(str(brand), platform, canonical, line)
                first = seen.get((platform, account.key))
                if first is not None:
                    problems.append(
                        Problem(
                            path,
                            line,
                            f"{platform} handle {handle!r} is listed twice "
                            f"(first under {first.brand!r} on line {first.line}); remove one",
                        )
                    )
                    continue
                seen[(platform, account.key)] = account
                accounts.append(account)

    landscapes: dict[str, tuple[str, ...]] = {}
    raw_landscapes = document.get("landscapes")
    if raw_landscapes is not None and not isinstance(raw_landscapes, dict):
        problems.append(
            Problem(
                path,
                _line(document, key="landscapes"),
                "'landscapes' must map landscape names to lists of brands",
            )
        )
        raw_landscapes = None
    for name, members in (raw_landscapes or {}).items():
        name_line = _line(raw_landscapes, key=name)
        if not isinstance(name, str) or has_lone_surrogate(name):
            problems.append(Problem(path, name_line, f"landscape name {shown(name)} must be text"))
            continue
        if not isinstance(members, list) or not members:
            problems.append(
                Problem(path, name_line, f"landscape {shown(name)} must list at least one brand")
            )
            continue
        for index, member in enumerate(members):
            member_line = _line(members, index=index) or name_line
            if not isinstance(member, str):
                problems.append(
                    Problem(
                        path,
                        member_line,
                        f"landscape {shown(name)} member {shown(member)} must be a brand name",
                    )
                )
            elif member not in brands:
                problems.append(
                    Problem(
                        path,
                        member_line,
                        f"landscape {shown(name)} names unknown brand {shown(member)}: "
                        "add it under 'brands' or fix the spelling",
                    )
                )
        landscapes[name] = tuple(str(member) for member in members)

    alerts = _parse_alerts(document, path, problems)
    if problems:
        raise WatchlistError(problems)
    return Watchlist(path, tuple(accounts), landscapes, alerts, tuple(notes))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def _milestone(value: Any) -> bool:
    """A follower count an account can reach: a whole number from 1 to MAX_COUNT."""
    if isinstance(value, float):
        return value.is_integer() and 0 < value <= MAX_COUNT
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_COUNT


def _parse_alerts(document: Any, path: Path, problems: list[Problem]) -> AlertRules:
    """The `alerts:` section; every key is optional, and null turns a rule off."""
    section = document.get("alerts")
    if section is None:
        return AlertRules()
    if not isinstance(section, dict):
        problems.append(
            Problem(path, _line(document, key="alerts"), "'alerts' must map rule names to values")
        )
        return AlertRules()
    rules = AlertRules()
    for key, value in section.items():
        line = _line(section, key=key)
        if key == "milestones":
            values = [] if value is None else value
            if not isinstance(values, list) or not all(_milestone(item) for item in values):
                problems.append(
                    Problem(
                        path,
                        line,
                        "alerts.milestones must be a list of whole numbers from 1 to "
                        f"{MAX_COUNT:,}",
                    )
                )
                continue
            rules = dataclasses.replace(rules, milestones=tuple(sorted({int(v) for v in values})))
        elif key == "drop_percent":
            if value is not None and not (_number(value) and value <= 100):
                problems.append(
                    Problem(path, line, "alerts.drop_percent must be a number above 0 up to 100")
                )
                continue
            rules = dataclasses.replace(rules, drop_percent=None if value is None else float(value))
        elif key == "stale_hours":
            if value is not None and not (_number(value) and value <= MAX_STALE_HOURS):
                problems.append(
                    Problem(
                        path,
                        line,
                        f"alerts.stale_hours must be hours above 0, up to {MAX_STALE_HOURS} "
                        "(a year)",
                    )
                )
                continue
            rules = dataclasses.replace(rules, stale_hours=None if value is None else float(value))
        elif key == "failed_runs":
            if not isinstance(value, bool):
                problems.append(Problem(path, line, "alerts.failed_runs must be true or false"))
                continue
            rules = dataclasses.replace(rules, failed_runs=value)
        else:
            problems.append(
                Problem(
                    path,
                    line,
                    f"unknown alert rule {shown(key)}: use milestones, drop_percent, stale_hours "
                    "or failed_runs",
                )
            )
    return rules


def _read_text(path: Path) -> str:
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

    Every command reads it through here or `_parse` (edits), with one meaning: the round-trip
    (YAML 1.2) reading's, after `_check_structure` refused duplicate keys and the limits.
    """
    text = _read_text(path)
    _check_structure(text, path)
    # Fast path: libyaml's safe loader reads a large watchlist ten times faster than the
    # round-trip loader. Anything it does not accept as valid is read again round-trip, whose
    # answer (YAML 1.2, with line numbers) is the one that counts. So is one with notes, which
    # name their lines.
    # Duplicate keys, the one thing it reads differently and silently (it keeps the last), were
    # refused above.
    try:
        document = yaml.load(text, Loader=_FAST_LOADER)  # noqa: S506
        watchlist = _validate(document, path)
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


def _write_validated(path: Path, document: Any) -> Watchlist:
    """Serialise the edited document, validate the result, and replace the file atomically."""
    buffer = io.StringIO()
    _yaml().dump(document, buffer)
    text = buffer.getvalue()
    _, watchlist = _parse(text, path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)
    return watchlist


def _read_document(path: Path) -> Any:
    return _parse(_read_text(path), path)[0]


def add_account(path: Path, brand: str, platform: str, handle: str) -> Watchlist:
    """Add one account under a brand (created if new) as its canonical handle (see
    `read_handle`), keeping the file's comments."""
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


def iter_rows(watchlist: Watchlist) -> Iterator[tuple[str, str, str]]:
    """(brand, platform, handle) for every watched account, in file order."""
    for account in watchlist.accounts:
        yield account.brand, account.platform, account.handle
