"""The warehouse's SQL models: which file holds each, how it is built, how far it reaches.

Kinds:
- `staging`: temporary views over the current inputs (never stored).
- `state`: small relations kept incrementally (previous rows merged with new observations).
- `daily`: one row per key and UTC day, stored as one Parquet file per month; refresh
  recomputes only the days touched by new observations, plus `reach_days` after them (the
  days whose values depend on the touched ones).
- `snapshot`: small relations recomputed whole from state relations on every refresh.
"""

from __future__ import annotations

import dataclasses
from typing import Final, Literal

from followerledger.duck import Columns, parse_columns, sql_text

Kind = Literal["staging", "state", "daily", "snapshot"]


@dataclasses.dataclass(frozen=True, slots=True)
class Model:
    """One SQL model."""

    name: str
    kind: Kind
    path: str
    spec: str = ""
    reach_days: int = 0
    published: bool = True

    @property
    def columns(self) -> Columns:
        """The declared columns of a state model (others derive theirs from their SQL)."""
        return parse_columns(self.spec)

    @property
    def sql(self) -> str:
        """The model's SELECT statement."""
        return sql_text(self.path)


STAGING: Final = (
    Model("identity_map", "staging", "staging/identity_map.sql", published=False),
    Model("keyed_observations", "staging", "staging/keyed_observations.sql", published=False),
)

STATE: Final = (
    Model(
        "handle_sightings",
        "state",
        "state/handle_sightings.sql",
        published=False,
        spec="platform varchar, account_id varchar, handle_key varchar, seen_as varchar, "
        "handle varchar, first_seen timestamptz, last_seen timestamptz",
    ),
    Model(
        "unresolved_handles",
        "state",
        "state/unresolved_handles.sql",
        published=False,
        spec="platform varchar, handle_key varchar, first_day date, last_day date",
    ),
    Model(
        "account_latest",
        "state",
        "state/account_latest.sql",
        published=False,
        spec="platform varchar, raw_key varchar, first_seen timestamptz, "
        "last_seen timestamptz, last_run_id varchar, last_status varchar, "
        "last_detail varchar, last_handle varchar, last_requested_handle varchar, "
        "last_display_name varchar, followers bigint, following bigint, posts bigint, "
        "counted_at timestamptz, counted_run_id varchar",
    ),
)

DAILY: Final = (Model("daily_followers", "daily", "marts/daily_followers.sql"),)

SNAPSHOT: Final = (
    Model("accounts", "snapshot", "marts/accounts.sql"),
    Model("account_handles", "snapshot", "marts/account_handles.sql"),
)

ALL_MODELS: Final = STAGING + STATE + DAILY + SNAPSHOT
