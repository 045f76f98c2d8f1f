"""Audits: queries that return the rows breaking a relation's declared grain (SQLMesh-style).

An audit passes when it returns no rows. Two audits are generated from every relation's
declared `keys` (models, lake datasets, seeds): `unique_keys` returns the rows that share
their keys with another row, `not_null_keys` the rows with a null key. Rules a key cannot
state are SQL files in `sql/audits/`, one per audit, named `<relation>_<rule>.sql`.
Identifiers in generated SQL are quoted; audits take no values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Final

import duckdb

from followerledger.models import ALL_MODELS, LAKE_DATASETS, SEEDS
from followerledger.models.duckdb_sql import quote_name, sql_text

__all__ = [
    "ALL_AUDITS",
    "GRAINS",
    "RULES",
    "Audit",
    "audit_failures",
    "key_audits",
    "not_null_keys",
    "unique_keys",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Audit:
    """A query over one relation returning the rows that break one rule."""

    name: str
    relation: str
    sql: str


def unique_keys(relation: str, keys: tuple[str, ...]) -> Audit:
    """Every row whose keys another row of `relation` shares (all copies, not one of each)."""
    columns = ", ".join(quote_name(key) for key in keys)
    sql = f"select * from {quote_name(relation)} qualify count(*) over (partition by {columns}) > 1"
    return Audit(f"{relation}.unique_keys", relation, sql)


def not_null_keys(relation: str, keys: tuple[str, ...]) -> Audit:
    """Every row of `relation` with a null key column."""
    nulls = " or ".join(f"{quote_name(key)} is null" for key in keys)
    return Audit(
        f"{relation}.not_null_keys", relation, f"select * from {quote_name(relation)} where {nulls}"
    )


def key_audits(relation: str, keys: tuple[str, ...]) -> tuple[Audit, ...]:
    """The audits of a relation's declared keys (none when it declares none)."""
    if not keys:
        return ()
    return (unique_keys(relation, keys), not_null_keys(relation, keys))


#: Every relation's declared keys: its grain.
GRAINS: Final[dict[str, tuple[str, ...]]] = {
    **{name: dataset.keys for name, dataset in LAKE_DATASETS.items() if dataset.keys},
    **{seed.name: seed.keys for seed in SEEDS if seed.keys},
    **{model.name: model.keys for model in ALL_MODELS if model.keys},
}


def _rule(relation: str, rule: str) -> Audit:
    return Audit(f"{relation}.{rule}", relation, sql_text(f"audits/{relation}_{rule}.sql").strip())


#: Model-specific rules, beyond the keys.
RULES: Final = (
    _rule("keyed_observations", "keyed"),
    _rule("daily_followers", "counted"),
    _rule("brand_daily", "included_within_expected"),
    _rule("account_handles", "one_row_per_handle_key"),
    _rule("accounts", "resolved_id_unique"),
    _rule("run_log", "one_per_shard"),
)

ALL_AUDITS: Final = (
    tuple(audit for name, keys in GRAINS.items() for audit in key_audits(name, keys)) + RULES
)


def audit_failures(
    connection: duckdb.DuckDBPyConnection, audits: Iterable[Audit] = ALL_AUDITS
) -> dict[str, list[tuple[Any, ...]]]:
    """The rows each failing audit returns, by audit name (empty: every audit passes).

    The connection must have each audited relation under its name, and the shared macros.
    """
    failures: dict[str, list[tuple[Any, ...]]] = {}
    for audit in audits:
        rows = connection.sql(audit.sql).fetchall()
        if rows:
            failures[audit.name] = rows
    return failures
