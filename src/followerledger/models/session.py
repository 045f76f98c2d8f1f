"""An in-memory DuckDB session with the models' inputs bound, shared by refresh and catalog."""

from __future__ import annotations

import contextlib
import functools
from array import array
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from importlib import resources
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from followerledger.delta_lake import PARTITION_COLUMNS
from followerledger.lake_filesystem import lake_read_failure
from followerledger.models import (
    DAILY,
    INCREMENTAL,
    LAKE_DATASETS,
    SEEDS,
    SNAPSHOT,
    STAGING,
    Model,
    Seed,
    with_defaults,
)
from followerledger.models.duckdb_sql import (
    Columns,
    connect,
    empty_relation,
    literal,
    parquet_relation,
    partitioned_relation,
)
from followerledger.watchlist import Watchlist
from followerledger.watchlist.accounts import AccountColumns, WatchedAccounts

if TYPE_CHECKING:
    from followerledger.layout import WarehouseLayout

WATCHLIST_SCHEMA = pa.schema(
    [
        ("brand", pa.string()),
        ("platform", pa.string()),
        ("handle", pa.string()),
        ("handle_key", pa.string()),
    ]
)
LANDSCAPES_SCHEMA = pa.schema([("landscape", pa.string()), ("brand", pa.string())])


def watchlist_tables(watchlist: Watchlist | None) -> tuple[pa.Table, pa.Table]:
    """The watchlist's accounts and landscapes as Arrow tables."""
    if watchlist is None:
        return WATCHLIST_SCHEMA.empty_table(), LANDSCAPES_SCHEMA.empty_table()
    accounts = _accounts_table(WatchedAccounts.of(watchlist.accounts).columns())
    landscapes = pa.Table.from_pylist(
        [
            {"landscape": name, "brand": brand}
            for name, brands in watchlist.landscapes.items()
            for brand in brands
        ],
        schema=LANDSCAPES_SCHEMA,
    )
    return accounts, landscapes


def _accounts_table(columns: AccountColumns) -> pa.Table:
    """The accounts' columns as Arrow, without building an account: the handles and keys are
    already Arrow's string layout (UTF-8 bytes and offsets), brands and platforms indexes."""
    count = len(columns.brand_of)

    def strings(data: bytes, offsets: array[int]) -> pa.Array:
        return pa.Array.from_buffers(
            pa.string(), count, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
        )

    def decoded(names: tuple[str, ...], indexes: array[int], kind: pa.DataType) -> pa.Array:
        codes = pa.Array.from_buffers(kind, count, [None, pa.py_buffer(indexes)])
        return pa.DictionaryArray.from_arrays(codes, pa.array(names, pa.string())).cast(pa.string())

    return pa.Table.from_arrays(
        [
            decoded(columns.brands, columns.brand_of, pa.int32()),
            decoded(columns.platforms, columns.platform_of, pa.int8()),
            strings(columns.handles, columns.handle_offsets),
            strings(columns.keys, columns.key_offsets),
        ],
        schema=WATCHLIST_SCHEMA,
    )


def seed_relation(seed: Seed) -> str:
    """SQL reading a shipped seed CSV with its declared column types."""
    path = resources.files("followerledger.sql").joinpath(seed.path)
    types = ", ".join(f"{literal(name)}: {literal(kind)}" for name, kind in seed.columns)
    return f"select * from read_csv({literal(str(path))}, header = true, columns = {{{types}}})"


class ModelSession:
    """Binds inputs under the names the SQL models read, and runs models.

    Given the `lake` (a layout or lake URI), its files can be bound wherever the lake lives
    (an `s3://` lake through the filesystem `lake_filesystem` registers); `bounded` and
    `keep_order` as `duckdb_sql.connect` takes them."""

    def __init__(
        self,
        threads: int | None = None,
        parameters: Mapping[str, object] | None = None,
        lake: WarehouseLayout | str | None = None,
        *,
        bounded: WarehouseLayout | None = None,
        keep_order: bool = True,
    ) -> None:
        self.connection: duckdb.DuckDBPyConnection = connect(
            threads, lake, bounded=bounded, keep_order=keep_order
        )
        self.lake = lake
        self.parameters: dict[str, object] = with_defaults(parameters)
        self._tables: dict[str, pa.Table] = {}

    def close(self) -> None:
        """Release the session."""
        self.connection.close()

    def bind_sql(self, name: str, relation: str) -> None:
        """A view `name` over any relation SQL."""
        self.connection.execute(f'create or replace temp view "{name}" as {relation}')

    def bind_parquet(
        self, name: str, paths: Sequence[str], columns: Columns, *, one_schema: bool = False
    ) -> None:
        """A view `name` over exactly these Parquet files."""
        self.bind_sql(name, parquet_relation(paths, columns, one_schema=one_schema))

    def bind_dataset(self, dataset: str, paths: Sequence[str]) -> None:
        """A view named after a lake dataset (observations, …) over these of its files."""
        self.bind_lake_files(dataset, dataset, paths)

    def bind_observations(self, name: str, paths: Sequence[str]) -> None:
        """A view `name` over these lake files, with the observation columns."""
        self.bind_lake_files(name, "observations", paths)

    def bind_lake_files(self, name: str, dataset: str, paths: Sequence[str]) -> None:
        """A view `name` over these data files of a lake dataset's Delta table, with its
        columns (the partition columns read from the files' paths)."""
        self.bind_sql(
            name,
            partitioned_relation(paths, LAKE_DATASETS[dataset].columns, PARTITION_COLUMNS),
        )

    def bind_table(self, name: str, table: pa.Table) -> None:
        """An Arrow table under `name` (kept alive as long as the session)."""
        self._tables[name] = table
        self.connection.register(f"{name}__arrow", table)
        self.bind_sql(name, f'select * from "{name}__arrow"')

    def bind_watchlist(self, watchlist: Watchlist | None) -> None:
        """`watchlist` (brand, platform, handle, handle_key) and `landscapes`."""
        accounts, landscapes = watchlist_tables(watchlist)
        self.bind_table("watchlist", accounts)
        self.bind_table("landscapes", landscapes)

    def bind_seeds(self) -> None:
        """The shipped seed tables (e.g. platform_events)."""
        for seed in SEEDS:
            self.bind_sql(seed.name, seed_relation(seed))

    def create_staging(self) -> None:
        """The staging views (identity_map, keyed_observations) over what is bound."""
        for model in STAGING:
            self.bind_sql(model.name, model.sql)

    def model_parameters(
        self, model: Model, days: tuple[date, date] | None = None
    ) -> dict[str, Any]:
        """The values of the parameters the model's SQL uses."""
        available: dict[str, Any] = dict(self.parameters)
        if days is not None:
            available["start_day"], available["end_day"] = days
        missing = [name for name in model.parameters if name not in available]
        if missing:
            raise KeyError(f"model {model.name} needs parameter(s) {', '.join(missing)}")
        return {name: available[name] for name in model.parameters}

    def run(self, model: Model, days: tuple[date, date] | None = None) -> pa.Table:
        """The model's rows as an Arrow table."""
        params = self.model_parameters(model, days)
        with self._reading():
            return self.connection.sql(model.sql, params=params).to_arrow_table()

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Any query's rows as an Arrow table."""
        with self._reading():
            return self.connection.sql(sql, params=dict(params or {})).to_arrow_table()

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """A read whose S3 lake fails under it (the endpoint went away, the key was revoked)
        raises the one-line `lake_filesystem.LakeUnreachable`, not pyarrow's traceback text."""
        try:
            yield
        except duckdb.Error as error:
            failure = None if self.lake is None else lake_read_failure(self.lake, error)
            if failure is None:
                raise
            raise failure from None

    def columns(self, model: Model) -> Columns:
        """The model's output columns as (name, DuckDB type) pairs."""
        days = (date(2000, 1, 1), date(2000, 1, 1)) if model.kind == "daily" else None
        relation = self.connection.sql(model.sql, params=self.model_parameters(model, days))
        return tuple(
            (name, str(kind)) for name, kind in zip(relation.columns, relation.types, strict=True)
        )

    def bind_everything_empty(self) -> dict[str, Columns]:
        """Every input empty and every model bound as an empty relation, in dependency order;
        return each published model's columns."""
        self.bind_watchlist(None)
        self.bind_seeds()
        for name in LAKE_DATASETS:
            self.bind_dataset(name, [])
        for model in INCREMENTAL:
            self.bind_parquet(model.name, [], model.columns)
        self.create_staging()
        found: dict[str, Columns] = {}
        for model in DAILY + SNAPSHOT:
            found[model.name] = self.columns(model)
            self.bind_sql(model.name, empty_relation(found[model.name]))
        return found


@functools.cache
def model_columns() -> dict[str, Columns]:
    """Each daily and snapshot model's columns, found by running it over empty inputs."""
    session = ModelSession(threads=1)
    try:
        return session.bind_everything_empty()
    finally:
        session.close()
