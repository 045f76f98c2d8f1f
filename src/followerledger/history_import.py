"""Backfill historical follower counts from CSV, all or nothing.

Columns: `observed_at,platform,handle,followers`, optionally `following,posts,account_id,
display_name`, separated by `,` or by `;` (Excel in European locales), told apart by the
header. `observed_at` is ISO-8601; a bare date means 00:00 UTC and a time without an offset is
read as UTC. Handles are read as the watchlist reads them (`@DellOutlet`, profile links). Every
row is validated before anything is written — counts are ASCII digits up to MAX_COUNT,
moments lie between EARLIEST and a day from now once converted to UTC, `account_id` and
`display_name` hold at most MAX_TEXT characters — and every bad row is reported as
`FILE:LINE: reason` (the first MAX_LISTED, then how many more); nothing from that file lands.

Rows land with `source='import'` in the lake's observations Delta table
(`delta_lake.OBSERVATIONS`), partitioned by platform and UTC day of `observed_at`, under a run
id derived from the file's content (`import-<sha256 prefix>`), all in one commit: one
`write_deltalake` overwriting by the predicate `run_id = '<run id>'`. Nothing is visible before
that commit, and a kill at any point leaves the table at the version it was (a killed writer's
data files are named by no version; `DeltaLake.vacuum` removes them). Importing the same file
again replaces exactly its own rows instead of duplicating them. Rows for handles the
watchlist does not list land too (history is data) and are counted in the report, unless their
`account_id` is the id a watched handle last resolved to (the identity map, this file's rows
included): those are the watched account under an old handle.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final

import pyarrow as pa
from deltalake import write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

from followerledger import pause, progress, stopping
from followerledger.clock import utc_now
from followerledger.delta_lake import (
    OBSERVATIONS,
    PARTITION_COLUMNS,
    TARGET_FILE_SIZE,
    DeltaLakeError,
    commit_properties,
    delta_lake_of,
    whole_run_predicate,
    with_date,
)
from followerledger.handles import HandleError, read_handle
from followerledger.identity import Identities, known_identities
from followerledger.layout import WarehouseLayout
from followerledger.observation import MAX_COUNT, Observation, to_table
from followerledger.sources import registry
from followerledger.urls import shown_url
from followerledger.watchlist import Watchlist, normalize_handle

__all__ = [
    "EARLIEST",
    "MAX_LISTED",
    "MAX_TEXT",
    "OPTIONAL",
    "REQUIRED",
    "WRITING_STEP",
    "ImportFileError",
    "ImportReport",
    "OutOfCalendar",
    "import_history",
    "parse_moment",
    "read_history",
    "run_id_for",
]

REQUIRED: Final = ("observed_at", "platform", "handle", "followers")
OPTIONAL: Final = ("following", "posts", "account_id", "display_name")

#: The import's step while it writes, counted in partitions (platform and day).
WRITING_STEP: Final = "import: writing the observations table (partitions)"


#: How many bad rows an error lists before it only counts the rest.
MAX_LISTED: Final = 20

#: How many unwatched handles the warning names.
_EXAMPLES: Final = 5

#: The earliest moment a row may carry (UTC): older than any platform followerledger reads.
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)

#: The most characters `account_id` and `display_name` may hold.
MAX_TEXT: Final = 1024

#: How often the thread waiting for the import's write lets a stop signal in (seconds).
_WAIT_SECONDS: Final = 0.1


class ImportFileError(ValueError):
    """The CSV cannot be imported; the message is one `FILE:LINE: reason` line per problem
    (the first MAX_LISTED, then a line counting the rest)."""

    def __init__(self, path: Path, problems: Sequence[tuple[int | None, str]]) -> None:
        self.path, self.problems = path, list(problems)
        lines = [
            f"{path}:{line}: {reason}" if line is not None else f"{path}: {reason}"
            for line, reason in self.problems[:MAX_LISTED]
        ]
        if len(self.problems) > MAX_LISTED:
            lines.append(
                f"{path}: … and {len(self.problems) - MAX_LISTED} more bad rows "
                f"({len(self.problems)} in all); nothing was imported"
            )
        super().__init__("\n".join(lines))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


@dataclasses.dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import landed: its rows, in one version of the observations table."""

    run_id: str
    rows: int
    #: The observations table's version the import's commit made.
    version: int
    #: (platform, UTC day) of every partition the import's rows are in, sorted.
    partitions: tuple[tuple[str, date], ...]
    #: (platform, handle, rows) for handles the watchlist does not list whose rows carry no
    #: account id a watched handle resolved to, most rows first.
    unwatched: tuple[tuple[str, str, int], ...] = ()

    def unwatched_warning(self) -> str | None:
        """One line saying how many rows are for handles neither listed nor carrying a watched
        account's id, or None."""
        if not self.unwatched:
            return None
        rows = sum(count for _, _, count in self.unwatched)
        examples = ", ".join(
            f"{platform} {handle} ({_plural(count, 'row')})"
            for platform, handle, count in self.unwatched[:_EXAMPLES]
        )
        more = ", …" if len(self.unwatched) > _EXAMPLES else ""
        return (
            f"{rows} of {self.rows} rows are for {_plural(len(self.unwatched), 'handle')} "
            "the watchlist does not list, without an account id a watched handle resolved to "
            f"(imported anyway): {examples}{more}; "
            "`followerledger watchlist add` them to track them"
        )


class OutOfCalendar(ValueError):
    """A moment that lies beyond year 1 or 9999 once converted to UTC."""


def parse_moment(text: str) -> datetime:
    """An ISO-8601 date or date-time as an aware UTC datetime (bare date: 00:00 UTC);
    ValueError if it is none, OutOfCalendar if UTC has no such moment."""
    value = text.strip()
    if len(value) == 10:
        day = date.fromisoformat(value)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise OutOfCalendar(text) from None


def _count(text: str | None, column: str, *, required: bool) -> int | None:
    value = (text or "").strip()
    if not value:
        if required:
            raise ValueError(f"{column} is empty: give a whole number")
        return None
    # ASCII only: int() would also read other scripts' digits ('١٢٣'), which no export means.
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"{column} {value!r} is not a whole number of 0 or more")
    count = int(value)
    if count > MAX_COUNT:
        raise ValueError(f"{column} {count} is more than any account has (at most {MAX_COUNT})")
    return count


def _text(field: dict[str, str], column: str) -> str | None:
    value = field.get(column, "").strip()
    if len(value) > MAX_TEXT:
        raise ValueError(f"{column} is {len(value)} characters long: at most {MAX_TEXT}")
    return value or None


def run_id_for(content: bytes) -> str:
    """The import's run id: the same content always gets the same id."""
    return "import-" + hashlib.sha256(content).hexdigest()[:16]


def read_history(
    path: Path, *, clock: Callable[[], datetime] = utc_now
) -> tuple[str, list[Observation]]:
    """Validate a history CSV; return its run id and rows, or raise ImportFileError."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise ImportFileError(path, [(None, "file not found")]) from None
    except OSError as error:
        raise ImportFileError(
            path,
            [(None, f"cannot be read ({error.strerror}): give the path of a readable CSV file")],
        ) from None
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(
            path,
            [
                (
                    None,
                    f"is not UTF-8 text ({error.reason} at byte {error.start}): "
                    "save it as CSV UTF-8 and import it again",
                )
            ],
        ) from None
    run_id = run_id_for(content)
    lines = text.splitlines()
    reader = csv.DictReader(lines, delimiter=_delimiter(lines[0] if lines else ""))
    header = [name.strip() for name in (reader.fieldnames or [])]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ImportFileError(
            path,
            [
                (
                    1,
                    f"missing column(s) {', '.join(missing)}: the header must name "
                    f"{','.join(REQUIRED)}",
                )
            ],
        )
    unknown = [name for name in header if name not in REQUIRED + OPTIONAL]
    if unknown:
        raise ImportFileError(
            path,
            [
                (
                    1,
                    f"unknown column(s) {', '.join(unknown)}: allowed are "
                    f"{','.join(REQUIRED + OPTIONAL)}",
                )
            ],
        )
    reader.fieldnames = header
    latest = clock() + timedelta(days=1)
    detail = f"imported from {path.name}"
    rows: list[Observation] = []
    problems: list[tuple[int | None, str]] = []
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            # The reader stops before counting the line it could not read; it goes on after it.
            problems.append(
                (
                    reader.line_num + 1,
                    f"a field is over the CSV reader's limit ({error}): "
                    f"text fields hold at most {MAX_TEXT} characters",
                )
            )
            continue
        try:
            rows.append(_observation(record, run_id, detail, latest))
        except ValueError as error:
            problems.append((reader.line_num, str(error)))
    if problems:
        raise ImportFileError(path, problems)
    if not rows:
        raise ImportFileError(path, [(None, "no rows to import (only a header)")])
    return run_id, rows


def _delimiter(header: str) -> str:
    """`,` or `;`, whichever splits the header into more known column names (`,` on a tie)."""
    known = set(REQUIRED + OPTIONAL)

    def names(delimiter: str) -> int:
        fields = next(csv.reader([header], delimiter=delimiter), [])
        return sum(field.strip() in known for field in fields)

    return max((",", ";"), key=names)


def _observation(
    record: dict[str | None, str | list[str] | None], run_id: str, detail: str, latest: datetime
) -> Observation:
    """One CSV row as an observation, or ValueError with the reason it is bad."""
    if None in record:
        raise ValueError("more fields than the header has columns")
    field: dict[str, str] = {
        str(key): value for key, value in record.items() if isinstance(value, str)
    }
    written_at = field.get("observed_at", "")
    try:
        observed_at = parse_moment(written_at)
    except OutOfCalendar:
        raise ValueError(
            f"observed_at {written_at!r} is outside the calendar once converted to UTC"
        ) from None
    except ValueError:
        raise ValueError(
            f"observed_at {written_at!r} is not an ISO-8601 date "
            "or date-time (e.g. 2008-07-01 or 2008-07-01T12:00:00Z)"
        ) from None
    if observed_at > latest:
        raise ValueError(f"observed_at {written_at!r} is in the future")
    if observed_at < EARLIEST:
        raise ValueError(
            f"observed_at {written_at!r} is before {EARLIEST:%Y-%m-%d} (UTC), "
            "older than any platform"
        )
    platform = field.get("platform", "").strip().lower()
    if platform not in registry.names():
        raise ValueError(
            f"unknown platform {field.get('platform')!r}: use one of {', '.join(registry.names())}"
        )
    try:
        handle = read_handle(platform, field.get("handle", ""))
    except HandleError as error:
        raise ValueError(str(error)) from None
    return Observation(
        run_id=run_id,
        observed_at=observed_at,
        platform=platform,
        handle=handle,
        status="ok",
        source="import",
        account_id=_text(field, "account_id"),
        display_name=_text(field, "display_name"),
        followers=_count(field.get("followers"), "followers", required=True),
        following=_count(field.get("following"), "following", required=False),
        posts=_count(field.get("posts"), "posts", required=False),
        detail=detail,
        requested_handle=handle,
    )


def _unwatched(
    rows: list[Observation], watchlist: Watchlist, identities: Callable[[], Identities]
) -> tuple[tuple[str, str, int], ...]:
    """(platform, handle, rows) of the rows whose handle the watchlist does not list and whose
    account id is not one a watched handle resolved to."""
    watched = {(account.platform, account.key) for account in watchlist.accounts}
    unlisted = [
        row
        for row in rows
        if (row.platform, normalize_handle(row.platform, row.handle)) not in watched
    ]
    # Reading the identity map costs a DuckDB query: only when some row could be matched by id.
    if any(row.account_id is not None for row in unlisted):
        known = identities()
        watched_ids = {(platform, known[platform, key]) for platform, key in watched & known.keys()}
        unlisted = [row for row in unlisted if (row.platform, row.account_id) not in watched_ids]
    counts = Counter((row.platform, row.handle) for row in unlisted)
    return tuple((platform, handle, count) for (platform, handle), count in counts.most_common())


class _GivenUp(Exception):
    """Raised inside the import's stream once a stop signal arrived: the write fails and
    commits nothing."""


def _write_stoppably(write: Callable[[], object]) -> None:
    """Run `write` on a thread of its own and wait for it, taking stop signals meanwhile.

    `write_deltalake` holds its calling thread inside delta-rs until the commit, where
    Python's signal handlers cannot run; so the main thread waits here instead, a stop sets
    `stopping.STOP`, the stream gives up (`_GivenUp`) and the write commits nothing. Once the
    write has ended, `Stopped` is raised if a stop arrived (a commit that had already begun
    is kept), else the write's own error.
    """
    failed: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            write()
        except BaseException as error:  # re-raised on the waiting thread
            failed.append(error)
        finally:
            done.set()

    writer = threading.Thread(target=run, name="import-write", daemon=True)
    writer.start()
    stopped: stopping.Stopped | None = None
    # Waited for on an Event, not by `join`: a signal handler raising inside `join` can leave
    # the thread looking ended while it still writes (the process then exits under delta-rs).
    while not done.is_set():
        try:
            done.wait(_WAIT_SECONDS)
        except stopping.Stopped as stop:
            stopped = stop  # the stream sees STOP and gives up: wait for the write to end
    writer.join()
    if stopped is None and failed and stopping.STOP.is_set():
        stopped = stopping.Stopped()  # stopped while waiting on another thread (a flow task)
    if stopped is not None:
        raise stopped from (failed[0] if failed else None)
    if failed:
        raise failed[0]


def import_history(
    path: Path,
    layout: WarehouseLayout,
    *,
    watchlist: Watchlist | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> ImportReport:
    """Validate the whole file, then land it in the warehouse's observations table as one
    commit replacing the rows of any earlier import of the same content (module doc).

    With a watchlist, the report counts the rows for handles the watchlist does not list,
    leaving out those whose account id a watched handle last resolved to (read after
    landing, so the file's own rows count as evidence). ImportFileError for a bad file,
    DeltaLakeError if the write fails or loses to a concurrent import of the same file, and
    `stopping.Stopped` if a stop signal arrives while it writes; in all three the table stays
    as it was."""
    progress.step("import: reading and checking the file")
    run_id, rows = read_history(path, clock=clock)
    partitions: dict[tuple[str, date], list[Observation]] = defaultdict(list)
    for row in rows:
        partitions[(row.platform, row.observed_at.date())].append(row)
    # Built here, not in the stream: the stream runs on a delta-rs worker thread.
    tables = [
        with_date(to_table(partition), OBSERVATIONS, day)
        for (_, day), partition in sorted(partitions.items())
    ]

    def batches() -> Iterator[pa.RecordBatch]:
        # On a delta-rs worker thread: pyarrow only, never a `deltalake` call.
        for done, table in enumerate(tables, 1):
            for batch in table.to_batches():
                if stopping.STOP.is_set():
                    raise _GivenUp("a stop signal arrived")
                yield batch
            progress.step(WRITING_STEP, done, len(tables))
            pause.point("import-write")
        if stopping.STOP.is_set():
            raise _GivenUp("a stop signal arrived")

    lake = delta_lake_of(layout)
    progress.step(WRITING_STEP, 0, len(tables))
    try:
        with lake.writing(OBSERVATIONS) as table:
            _write_stoppably(
                lambda: write_deltalake(
                    table,
                    pa.RecordBatchReader.from_batches(OBSERVATIONS.table_schema, batches()),
                    mode="overwrite",
                    predicate=whole_run_predicate(run_id),
                    partition_by=list(PARTITION_COLUMNS),
                    target_file_size=TARGET_FILE_SIZE,
                    commit_properties=commit_properties(),
                )
            )
            version = table.version()
    except CommitFailedError as error:
        raise DeltaLakeError(
            f"{path}: another writer changed this file's rows in the observations table at the "
            f"same time ({type(error).__name__}); nothing of this import was committed: import "
            "the file again"
        ) from error
    except (DeltaError, OSError) as error:
        # delta-rs' message can quote rows or the store's whole request: its type only here;
        # the rest stays in __cause__.
        raise DeltaLakeError(
            f"{path}: writing the observations table at {shown_url(layout.lake_uri)} failed "
            f"({type(error).__name__}); nothing of the file was imported: check that the lake "
            "is reachable, then import the file again"
        ) from error
    unwatched = (
        _unwatched(rows, watchlist, lambda: known_identities(layout))
        if watchlist is not None
        else ()
    )
    return ImportReport(run_id, len(rows), version, tuple(sorted(partitions)), unwatched)
