"""Parquet files written atomically under a folder: the warehouse's mart files, and the
reader of the lake layout before Delta tables, which `followerledger migrate` converts.

A file is written under a temporary name that no reader globs (it does not end in
`.parquet`), flushed to disk, then renamed into place, so readers see all of it or none of
it (`Lake.write`, `LakeWriter`). Mart files are never rewritten: each refresh writes new
versions (`refresh.mart_key`).

The old lake layout (`<lake>/<dataset>/platform=<p>/date=<YYYY-MM-DD>/<run_id>.parquet`,
`compacted-<digest>.parquet` files whose footer `SUPERSEDES` names the originals, and
`<lake>/_pending/<uuid>.json` markers of imports in progress, hidden from `list`) is read here
for the migration only: `list`, `read`, `footer`, and `sweep_leftovers`, which rolls back the
files of an old version's import that died mid-commit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import fs as pafs

from followerledger import pause
from followerledger.layout import WarehouseLayout
from followerledger.leftovers import sweep_warehouse, temporary_name

__all__ = [
    "COMPACTED_AT",
    "COMPACTED_PREFIX",
    "OBSERVATIONS",
    "SUPERSEDES",
    "Lake",
    "LakeError",
    "LakeFile",
    "LakeWriter",
    "check_run_id",
    "is_compacted",
    "lake_of",
    "marts_of",
    "observation_key",
]

OBSERVATIONS: Final = "observations"
#: Where the markers of commits in progress live (no dataset is named like this).
PENDING: Final = "_pending"
#: Files written by compaction start with this; run ids may not (see `check_run_id`).
COMPACTED_PREFIX: Final = "compacted-"
#: Footer metadata of a compacted file: the keys whose rows it holds (JSON list, including
#: what the files it merged had superseded), and when it was written (ISO time).
SUPERSEDES: Final = "followerledger.supersedes"
COMPACTED_AT: Final = "followerledger.compacted_at"
_RUN_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_PARTITION: Final = re.compile(
    r"^(?P<dataset>[a-z_]+)/platform=(?P<platform>[a-z]+)/date=(?P<date>\d{4}-\d{2}-\d{2})/"
    r"(?P<name>[^/]+)\.parquet$"
)


class LakeError(RuntimeError):
    """A lake operation failed; nothing partial is visible."""


@dataclasses.dataclass(frozen=True, slots=True)
class LakeFile:
    """One committed Parquet file of the lake."""

    key: str
    size: int
    mtime_ns: int

    @property
    def platform(self) -> str:
        """The platform partition of the file."""
        return self._parts()["platform"]

    @property
    def day(self) -> date:
        """The date partition of the file (the run's UTC start date)."""
        return date.fromisoformat(self._parts()["date"])

    def _parts(self) -> dict[str, str]:
        match = _PARTITION.match(self.key)
        if match is None:
            raise LakeError(f"{self.key}: not a partitioned lake file")
        return match.groupdict()


def check_run_id(run_id: str) -> str:
    """The run id, if it is safe to use as a file name; else a ValueError saying why."""
    if not _RUN_ID.match(run_id):
        raise ValueError(
            f"run id {run_id!r} must start with a letter or digit and hold only letters, "
            "digits, '.', '_' or '-' (at most 128 characters)"
        )
    if run_id.startswith(COMPACTED_PREFIX):
        raise ValueError(f"run ids starting with {COMPACTED_PREFIX!r} are reserved for compaction")
    return run_id


def is_compacted(key: str) -> bool:
    """Whether a lake key names a file written by compaction."""
    return key.rsplit("/", 1)[-1].startswith(COMPACTED_PREFIX)


def observation_key(platform: str, day: date, name: str) -> str:
    """The lake key of one run's file for one platform and partition date."""
    return f"{OBSERVATIONS}/platform={platform}/date={day.isoformat()}/{check_run_id(name)}.parquet"


class Lake:
    """Parquet files under a root given as a local path or a filesystem URI."""

    def __init__(self, uri: str | Path) -> None:
        text = str(uri)
        if "://" in text:
            self.fs, root = pafs.FileSystem.from_uri(text)
        else:
            self.fs, root = pafs.LocalFileSystem(), os.path.abspath(text)
        self.root = root.rstrip("/")
        self.is_local = isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, key: str) -> str:
        """The full path of a key, as DuckDB and pyarrow read it."""
        return f"{self.root}/{key}"

    def write(
        self, key: str, table: pa.Table, options: Mapping[str, Any] | None = None
    ) -> LakeFile:
        """Write a table at `key` atomically: all of it becomes visible at once, or nothing.

        `options` go to `pyarrow.parquet.ParquetWriter` (dictionary and statistics choices).
        """
        writer = self.writer(key, table.schema, options)
        try:
            writer.write(table)
        except BaseException:
            writer.abort()
            raise
        return writer.commit()

    def sweep_leftovers(self, layout: WarehouseLayout) -> None:
        """Clear what killed runs of an old-layout lake left: temporary files under the
        warehouse and the lake (`leftovers.sweep_warehouse`), and the files of imports whose
        writer died mid-commit (an old version's `_pending` markers). Called by `migrate`."""
        sweep_warehouse(layout)
        if not self.is_local or not os.path.isdir(self.path(PENDING)):
            return
        # A marker exists only while its writer holds this lock: any found under it is dead.
        with self._commit_lock(shared=False):
            self._roll_back_dead_commits()

    def _markers(self) -> dict[str, tuple[list[str], list[str]]]:
        """Every pending marker: its path -> (the keys it hides, the temporaries it names)."""
        selector = pafs.FileSelector(self.path(PENDING), allow_not_found=True)
        found = {}
        for info in self.fs.get_file_info(selector):
            if info.type != pafs.FileType.File or not info.base_name.endswith(".json"):
                continue
            if info.base_name.startswith("."):
                continue
            with self.fs.open_input_stream(info.path) as stream:
                content = json.loads(stream.read())
            found[info.path] = (list(content["keys"]), list(content["temporaries"]))
        return found

    def _roll_back_dead_commits(self) -> None:
        """Remove what writers killed mid-commit left (called under the exclusive lock): the
        files and temporaries their markers name, the markers, and half-written markers."""
        for marker, (keys, temporaries) in self._markers().items():
            for path in [self.path(key) for key in keys] + temporaries:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
            os.remove(marker)
        for entry in os.scandir(self.path(PENDING)):
            if entry.name.startswith(".") and entry.name.endswith(".json.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(entry.path)

    @contextlib.contextmanager
    def _commit_lock(self, *, shared: bool) -> Iterator[bool]:
        """The lake's commit lock (local lakes): exclusive for a commit, shared for a listing.
        A reader finding no lock file takes none and says so (no commit has ever run)."""
        path = self.path(f"{PENDING}/.lock")
        if shared:
            try:
                descriptor = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                yield False
                return
        else:
            os.makedirs(self.path(PENDING), exist_ok=True)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield True
        finally:
            os.close(descriptor)

    def writer(
        self, key: str, schema: pa.Schema, options: Mapping[str, Any] | None = None
    ) -> LakeWriter:
        """A file at `key` written in parts and made visible whole by `commit()`."""
        return LakeWriter(self, key, schema, options)

    def read(self, key: str) -> pa.Table:
        """One file's rows (no partition columns are added from its path)."""
        return pq.read_table(self.path(key), filesystem=self.fs, partitioning=None)

    def footer(self, key: str) -> dict[str, str]:
        """A file's key-value metadata (from its footer only)."""
        metadata = pq.read_metadata(self.path(key), filesystem=self.fs).metadata or {}
        return {name.decode(): value.decode() for name, value in metadata.items()}

    def list(self, dataset: str = OBSERVATIONS) -> list[LakeFile]:
        """Every committed file of a dataset, sorted by key (temporary files, and the files
        of a commit not yet done or never finished, excluded)."""
        base = self.path(dataset)
        if self.is_local:
            while True:
                with self._commit_lock(shared=True) as locked:
                    hidden = self._hidden() if locked else set()
                    found = _walk_local(base, dataset)
                # Without a lock file no commit had run when the walk began; if one has
                # begun since, walk again under its lock.
                if locked or not os.path.exists(self.path(f"{PENDING}/.lock")):
                    break
            return sorted(
                (item for item in found if item.key not in hidden), key=lambda item: item.key
            )
        hidden = self._hidden()
        selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
        files = []
        for info in self.fs.get_file_info(selector):
            name = info.base_name
            if (
                info.type == pafs.FileType.File
                and name.endswith(".parquet")
                and not name.startswith(".")
            ):
                key = info.path[len(self.root) + 1 :]
                if key not in hidden:
                    files.append(LakeFile(key, info.size or 0, info.mtime_ns or 0))
        return sorted(files, key=lambda item: item.key)

    def _hidden(self) -> set[str]:
        """The keys pending markers hide."""
        return {key for keys, _ in self._markers().values() for key in keys}

    def remove(self, key: str) -> None:
        """Delete one file (used for mart files no relation lists, and for lake files
        compacted longer ago than the grace period)."""
        self.fs.delete_file(self.path(key))


class LakeWriter:
    """One lake file written in parts (row groups) and made visible whole: under a temporary
    name that no reader lists, flushed to disk, then renamed into place (local lakes); as one
    upload completed on `commit` (object stores make an upload visible whole)."""

    def __init__(
        self, lake: Lake, key: str, schema: pa.Schema, options: Mapping[str, Any] | None
    ) -> None:
        self.lake = lake
        self.key = key
        self.final = lake.path(key)
        self.directory, name = self.final.rsplit("/", 1)
        self._lock = threading.Lock()
        if lake.is_local:
            os.makedirs(self.directory, exist_ok=True)
            self.temporary = f"{self.directory}/{temporary_name(name)}"
            self._sink: Any = open(self.temporary, "wb")  # noqa: SIM115 (closed by commit/abort)
        else:
            self.temporary = self.final
            self._sink = lake.fs.open_output_stream(self.final)
        self._parquet = pq.ParquetWriter(self._sink, schema, **dict(options or {}))
        self._finished = self._placed = False
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        """Append rows (safe to call from several threads)."""
        with self._lock:
            self._parquet.write_table(table)
            self.rows += table.num_rows
        pause.point("lake-write")

    def finish(self) -> None:
        """Finish the file under its temporary name, flushed to disk (local lakes; an
        object store upload completes on `commit`)."""
        with self._lock:
            if self._finished or not self.lake.is_local:
                return
            try:
                self._parquet.close()
                self._sink.flush()
                os.fsync(self._sink.fileno())
                self._sink.close()
            except BaseException:
                self._discard()
                raise
            self._finished = True

    def commit(self) -> LakeFile:
        """Finish the file and make it visible at its key."""
        self.finish()
        self.place()
        if not self.lake.is_local:
            info = self.lake.fs.get_file_info(self.final)
            return LakeFile(self.key, info.size or 0, info.mtime_ns or 0)
        _fsync_directory(self.directory)
        stat = os.stat(self.final)
        return LakeFile(self.key, stat.st_size, stat.st_mtime_ns)

    def place(self) -> None:
        """Make the finished file visible at its key: a rename (local lakes; the directory is
        not fsynced), or completing the upload."""
        with self._lock:
            try:
                if self.lake.is_local:
                    pause.point("lake-rename")
                    os.replace(self.temporary, self.final)
                else:
                    self._parquet.close()
                    self._sink.close()
            except BaseException:
                self._discard()
                raise
            self._placed = True

    def abort(self) -> None:
        """Give up: nothing becomes visible (a file already placed is left alone)."""
        with self._lock:
            if not self._placed:
                self._discard()

    def _discard(self) -> None:
        with contextlib.suppress(Exception):
            self._parquet.close()
        with contextlib.suppress(Exception):
            self._sink.close()
        if self.lake.is_local:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.temporary)
        else:
            with contextlib.suppress(Exception):
                self.lake.fs.delete_file(self.final)


def _walk_local(base: str, dataset: str) -> list[LakeFile]:
    found: list[LakeFile] = []
    stack = [(base, dataset)]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, f"{prefix}/{entry.name}"))
            elif entry.name.endswith(".parquet"):
                stat = entry.stat(follow_symlinks=False)
                found.append(LakeFile(f"{prefix}/{entry.name}", stat.st_size, stat.st_mtime_ns))
    return found


def _fsync_directory(directory: str) -> None:
    """Make the rename durable (POSIX); harmless where directories cannot be opened."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def lake_of(layout: WarehouseLayout) -> Lake:
    """The warehouse's lake (its URI from the layout)."""
    return Lake(layout.lake_uri)


def marts_of(layout: WarehouseLayout) -> Lake:
    """The warehouse's marts folder, as a `Lake` of mart files."""
    return Lake(layout.marts)
