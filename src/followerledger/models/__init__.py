"""The warehouse's SQL models: which file holds each, how it is built, what it depends on.

Kinds:
- `staging`: temporary views over the current inputs (never stored).
- `incremental`: small relations kept incrementally (previous rows merged with new observations).
- `daily`: one row per key and UTC day, stored as one Parquet file per month. Refresh
  recomputes only the days that changed: for a model reading the lake, the days touched by
  new files; for a model reading other daily models, the days recomputed there. `reach_days`
  extends that set forward (a change on day D changes this model's rows up to D + reach),
  and `lookback_days` is how far back before a computed day the model reads raw lake rows.
- `snapshot`: small relations recomputed whole on every refresh, after the daily models.
- `view`: published as a plain view over the other relations, computed when it is queried
  (never stored; no `$parameters`, no macros).

Models read each other by name. Parameters are written `$name` in the SQL and bound from
`DEFAULT_PARAMETERS` (overridable per refresh); daily models also get `$start_day` and
`$end_day`, the inclusive range being computed.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Final, Literal

from followerledger import delta_lake
from followerledger.models.duckdb_sql import (
    Columns,
    arrow_columns,
    parse_columns,
    sql_text,
)

__all__ = [
    "ALL_MODELS",
    "DAILY",
    "DEFAULT_PARAMETERS",
    "INCREMENTAL",
    "LAKE_DATASETS",
    "SEEDS",
    "SNAPSHOT",
    "STAGING",
    "VIEWS",
    "Dataset",
    "Kind",
    "Model",
    "Seed",
    "sql_parameters",
    "with_defaults",
]

Kind = Literal["staging", "incremental", "daily", "snapshot", "view"]


@dataclasses.dataclass(frozen=True, slots=True)
class Dataset:
    """A lake dataset: its columns, and what it holds (the catalog's comment)."""

    columns: Columns
    comment: str
    #: The grain, as for `Model.keys`.
    keys: tuple[str, ...] = ()


#: Lake datasets: each is bound under its name for the models, and published as a view.
LAKE_DATASETS: Final[dict[str, Dataset]] = {
    # No keys: an imported file listing a handle twice at the same moment lands both rows.
    "observations": Dataset(
        arrow_columns(delta_lake.OBSERVATIONS.table_schema),
        "observations: every row of the lake, one per watched account per run. "
        "Grain: (run_id, platform, requested_handle).",
    ),
    "run_log": Dataset(
        arrow_columns(delta_lake.RUN_LOG.table_schema),
        "run_log: one record per snapshot run, platform and shard, as the run wrote it. "
        "Grain: (run_id, platform, shard); shard is null before runs had shards. The runs "
        "relation sums a run's shards and adds X's estimated cost.",
    ),
}

#: Values of `$name` parameters unless a refresh overrides them.
DEFAULT_PARAMETERS: Final[dict[str, object]] = {
    # X pay-per-use pricing (contracts: x-api/getting-started/pricing.mdx): User: Read.
    "x_cost_per_user_read": 0.010,
    # How old (in days) an account's latest count may be and still stand for it in a
    # brand total or a leaderboard (settings: FOLLOWERLEDGER_STALENESS_DAYS).
    "staleness_days": 2,
}


def with_defaults(parameters: Mapping[str, object] | None = None) -> dict[str, object]:
    """The parameters a refresh runs with: the defaults, overridden by `parameters`."""
    return {**DEFAULT_PARAMETERS, **(parameters or {})}


_PARAMETER: Final = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclasses.dataclass(frozen=True, slots=True)
class Model:
    """One SQL model."""

    name: str
    kind: Kind
    path: str
    spec: str = ""
    depends_on: tuple[str, ...] = ("observations",)
    reach_days: int = 0
    lookback_days: int = 0
    published: bool = True
    #: A parameter whose value (in days) adds to `reach_days`, e.g. a staleness window.
    reach_parameter: str | None = None
    #: The grain: the columns that identify a row, unique together and never null (the
    #: audits in `models.audits` check it). Empty when no columns identify a row.
    keys: tuple[str, ...] = ()

    @property
    def columns(self) -> Columns:
        """The declared columns of an incremental model (others derive theirs from their SQL)."""
        return parse_columns(self.spec)

    @property
    def sql(self) -> str:
        """The model's SELECT statement."""
        return sql_text(self.path)

    def reach(self, parameters: Mapping[str, object]) -> int:
        """How many days after a changed day this model's rows change, with these parameters."""
        if self.reach_parameter is None:
            return self.reach_days
        value = parameters[self.reach_parameter]
        if not isinstance(value, int) or value < 0:
            raise ValueError(
                f"parameter {self.reach_parameter} must be a whole number of days, not {value!r}"
            )
        return self.reach_days + value

    @property
    def parameters(self) -> tuple[str, ...]:
        """The `$name` parameters the model's SQL uses."""
        return sql_parameters(self.sql)


def sql_parameters(sql: str) -> tuple[str, ...]:
    """The `$name` parameters a SQL text uses (comments aside), in order of appearance."""
    return tuple(dict.fromkeys(_PARAMETER.findall(_without_comments(sql))))


def _without_comments(sql: str) -> str:
    return "\n".join(line.split("--", 1)[0] for line in sql.splitlines())


@dataclasses.dataclass(frozen=True, slots=True)
class Seed:
    """A small table shipped with the package (CSV), bound for models and published."""

    name: str
    path: str
    spec: str
    #: The grain, as for `Model.keys`.
    keys: tuple[str, ...] = ()

    @property
    def columns(self) -> Columns:
        """The seed's columns and types."""
        return parse_columns(self.spec)


STAGING: Final = (
    Model(
        "identity_map",
        "staging",
        "staging/identity_map.sql",
        keys=("platform", "handle_key"),
        published=False,
    ),
    Model("keyed_observations", "staging", "staging/keyed_observations.sql", published=False),
    Model(
        "watched_accounts",
        "staging",
        "staging/watched_accounts.sql",
        keys=("brand", "platform", "handle_key"),
        published=False,
    ),
)

INCREMENTAL: Final = (
    Model(
        "handle_sightings",
        "incremental",
        "incremental/handle_sightings.sql",
        keys=("platform", "account_id", "handle_key", "seen_as"),
        published=False,
        spec="platform varchar, account_id varchar, handle_key varchar, seen_as varchar, "
        "handle varchar, first_seen timestamptz, last_seen timestamptz",
    ),
    Model(
        "unresolved_sightings",
        "incremental",
        "incremental/unresolved_sightings.sql",
        keys=("platform", "handle_key"),
        published=False,
        spec="platform varchar, handle_key varchar, handle varchar, first_seen timestamptz, "
        "last_seen timestamptz",
    ),
    Model(
        "unresolved_handles",
        "incremental",
        "incremental/unresolved_handles.sql",
        keys=("platform", "handle_key"),
        published=False,
        spec="platform varchar, handle_key varchar, first_day date, last_day date",
    ),
    Model(
        "account_latest",
        "incremental",
        "incremental/account_latest.sql",
        keys=("platform", "raw_key"),
        published=False,
        spec="platform varchar, raw_key varchar, first_seen timestamptz, "
        "last_seen timestamptz, last_run_id varchar, last_status varchar, "
        "last_detail varchar, last_handle varchar, last_requested_handle varchar, "
        "last_display_name varchar, followers bigint, following bigint, posts bigint, "
        "counted_at timestamptz, counted_run_id varchar, first_counted_at timestamptz",
    ),
)

#: In dependency order: a model may read the models before it.
DAILY: Final = (
    Model("daily_followers", "daily", "marts/daily_followers.sql", keys=("account_key", "day")),
    # The 90-day window looks for its baseline up to 90 days before its boundary.
    Model(
        "account_growth",
        "daily",
        "marts/account_growth.sql",
        keys=("account_key", "day"),
        depends_on=("daily_followers",),
        reach_days=180,
    ),
    # A day's change joins the baselines of the 28 days after it.
    Model(
        "anomalies",
        "daily",
        "marts/anomalies.sql",
        keys=("account_key", "day"),
        depends_on=("account_growth",),
        reach_days=28,
    ),
    Model(
        "brand_daily",
        "daily",
        "marts/brand_daily.sql",
        keys=("brand", "platform", "day"),
        depends_on=("daily_followers",),
        reach_parameter="staleness_days",
    ),
    Model(
        "share_of_audience",
        "daily",
        "marts/share_of_audience.sql",
        keys=("landscape", "platform", "day", "brand"),
        depends_on=("brand_daily",),
    ),
    # Ranks stand on counts up to the staleness window old; rank changes on the day before.
    Model(
        "leaderboard",
        "daily",
        "marts/leaderboard.sql",
        keys=("scope", "day", "account_key"),
        depends_on=("account_growth",),
        reach_days=1,
        reach_parameter="staleness_days",
    ),
    Model("coverage", "daily", "marts/coverage.sql", keys=("account_key", "day")),
    Model(
        "runs",
        "daily",
        "marts/runs.sql",
        keys=("run_id", "platform"),
        depends_on=("run_log", "observations"),
    ),
)

#: A snapshot model sees the lake only when its `depends_on` names a lake dataset (binding
#: every lake file costs time that grows with the history).
SNAPSHOT: Final = (
    Model(
        "account_handles",
        "snapshot",
        "marts/account_handles.sql",
        keys=("account_key", "handle"),
        depends_on=("handle_sightings", "unresolved_sightings"),
    ),
    Model(
        "accounts",
        "snapshot",
        "marts/accounts.sql",
        keys=("account_key",),
        depends_on=("account_latest", "account_handles"),
    ),
    Model(
        "projections",
        "snapshot",
        "marts/projections.sql",
        keys=("account_key",),
        depends_on=("accounts", "account_growth", "anomalies"),
    ),
)

VIEWS: Final = (
    Model(
        "gaps",
        "view",
        "marts/gaps.sql",
        keys=("account_key", "first_day"),
        depends_on=("daily_followers", "coverage"),
    ),
)

SEEDS: Final[tuple[Seed, ...]] = (
    Seed(
        "platform_events",
        "seeds/platform_events.csv",
        "platform varchar, first_day date, last_day date, kind varchar, name varchar, "
        "description varchar, source varchar",
        keys=("platform", "first_day"),
    ),
)

ALL_MODELS: Final = STAGING + INCREMENTAL + DAILY + SNAPSHOT + VIEWS
