"""One refresh's workspace: the model session, the lake's files as they are now, and the mart
files it writes (each a new version, never overwritten)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import date

import pyarrow as pa

from followerledger.delta_lake import DeltaFile, DeltaLake
from followerledger.lake import marts_of
from followerledger.layout import WarehouseLayout
from followerledger.manifest import BuildManifest
from followerledger.models import Model
from followerledger.models.session import ModelSession, model_columns
from followerledger.refresh.changes import LakeChanges
from followerledger.watchlist import Watchlist


def mart_key(model: Model, version: str, month: str | None = None) -> str:
    """The key of one version of a mart file under `<warehouse>/marts`.

    Mart files are never overwritten: DuckDB may open a file more than once in one query, so
    a reader of a file replaced under its feet can mix two versions (a torn read). Each
    refresh writes new versions; the ones no catalog lists any more are deleted once the
    reader grace period has passed.
    """
    if month is None:
        return f"{model.name}/data-{version}.parquet"
    return f"{model.name}/month={month}/data-{version}.parquet"


def month_of(key: str) -> str | None:
    """The month partition a mart key belongs to (None for single-file marts)."""
    folder = key.rsplit("/", 2)[-2]
    return folder.removeprefix("month=") if folder.startswith("month=") else None


class MartBuild:
    """The session models run in, the lake's changes, and the mart files written so far."""

    def __init__(
        self,
        layout: WarehouseLayout,
        lake: DeltaLake,
        state: BuildManifest,
        watchlist: Watchlist | None,
        parameters: Mapping[str, object] | None,
        threads: int | None,
        version: str,
    ) -> None:
        self.lake = lake
        self.version = version
        self.marts = marts_of(layout)
        self.state = state
        self.session = ModelSession(threads, parameters, layout)
        self.session.bind_watchlist(watchlist)
        self.session.bind_seeds()
        self.changes = LakeChanges.of(lake, state)
        #: Mart files written by this refresh.
        self.written = 0
        #: Wall seconds spent per step (a model's SQL under its name, its writes under
        #: "<name> (write)", and the refresh's other steps), summed over the refresh.
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Add the wall time of the block to `step`'s seconds."""
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.seconds[step] = self.seconds.get(step, 0.0) + elapsed

    def write(self, model: Model, table: pa.Table, month: str | None = None) -> str:
        """Write a new version of a model's (month) file; its key."""
        key = mart_key(model, self.version, month)
        with self.timed(f"{model.name} (write)"):
            self.marts.write(key, table)
        self.written += 1
        return key

    def paths(self, files: Sequence[DeltaFile]) -> list[str]:
        """The paths DuckDB reads lake files by."""
        return [f.path for f in files]

    def bind_stored(self, models: Sequence[Model]) -> None:
        """Bind models as stored (their current mart files)."""
        columns = model_columns()
        for model in models:
            paths = [self.marts.path(k) for k in self.state.marts.get(model.name, [])]
            self.session.bind_parquet(
                model.name,
                paths,
                model.columns if model.kind == "incremental" else columns[model.name],
                one_schema=True,
            )

    def bind_lake(self, start: date | None = None, end: date | None = None) -> None:
        """Every lake dataset, limited to the partitions from `start` to `end`."""
        days = self.changes.file_days
        for dataset, files in self.changes.files.items():
            chosen = [
                f
                for f in files
                if (start is None or days[f.key] >= start) and (end is None or days[f.key] <= end)
            ]
            self.session.bind_dataset(dataset, self.paths(chosen))
