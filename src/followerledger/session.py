"""An in-memory DuckDB session with the models' inputs bound, shared by refresh and catalog."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from followerledger.duck import OBSERVATION_COLUMNS, Columns, connect, parquet_relation
from followerledger.models import STAGING, Model
from followerledger.watchlist import Watchlist

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
    accounts = pa.Table.from_pylist(
        [
            {"brand": a.brand, "platform": a.platform, "handle": a.handle, "handle_key": a.key}
            for a in watchlist.accounts
        ],
        schema=WATCHLIST_SCHEMA,
    )
    landscapes = pa.Table.from_pylist(
        [
            {"landscape": name, "brand": brand}
            for name, brands in watchlist.landscapes.items()
            for brand in brands
        ],
        schema=LANDSCAPES_SCHEMA,
    )
    return accounts, landscapes


class ModelSession:
    """Binds inputs under the names the SQL models read, and runs models."""

    def __init__(self, threads: int | None = None) -> None:
        self.connection: duckdb.DuckDBPyConnection = connect(threads)
        self._tables: dict[str, pa.Table] = {}

    def close(self) -> None:
        """Release the session."""
        self.connection.close()

    def bind_parquet(self, name: str, paths: Sequence[str], columns: Columns) -> None:
        """A view `name` over exactly these Parquet files."""
        self.connection.execute(
            f'create or replace temp view "{name}" as {parquet_relation(paths, columns)}'
        )

    def bind_observations(self, name: str, paths: Sequence[str]) -> None:
        """A view `name` over these lake files, with the observation columns."""
        self.bind_parquet(name, paths, OBSERVATION_COLUMNS)

    def bind_table(self, name: str, table: pa.Table) -> None:
        """An Arrow table under `name` (kept alive as long as the session)."""
        self._tables[name] = table
        self.connection.register(f"{name}__arrow", table)
        self.connection.execute(
            f'create or replace temp view "{name}" as select * from "{name}__arrow"'
        )

    def bind_watchlist(self, watchlist: Watchlist | None) -> None:
        """`watchlist` (brand, platform, handle, handle_key) and `landscapes`."""
        accounts, landscapes = watchlist_tables(watchlist)
        self.bind_table("watchlist", accounts)
        self.bind_table("landscapes", landscapes)

    def create_staging(self) -> None:
        """The staging views (identity_map, keyed_observations) over what is bound."""
        for model in STAGING:
            self.connection.execute(f'create or replace temp view "{model.name}" as {model.sql}')

    def run(self, model: Model, params: Mapping[str, Any] | None = None) -> pa.Table:
        """The model's rows as an Arrow table."""
        return self.connection.sql(model.sql, params=dict(params or {})).to_arrow_table()

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Any query's rows as an Arrow table."""
        return self.connection.sql(sql, params=dict(params or {})).to_arrow_table()

    def columns(self, model: Model, params: Mapping[str, Any] | None = None) -> Columns:
        """The model's output columns as (name, DuckDB type) pairs."""
        relation = self.connection.sql(model.sql, params=dict(params or {}))
        return tuple(
            (name, str(kind)) for name, kind in zip(relation.columns, relation.types, strict=True)
        )
