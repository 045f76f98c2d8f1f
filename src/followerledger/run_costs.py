"""What a run cost, priced by the `runs` model (and per credential by `run_credentials`) over
the lake files of its day.

The flow uses this for its artifacts right after landing, before any refresh; the numbers
are the ones the `runs` and `run_credentials` relations will hold, because they come from the
same models.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from followerledger.delta_lake import DATASETS, delta_lake_of
from followerledger.layout import WarehouseLayout
from followerledger.models import DAILY, Model
from followerledger.models.session import ModelSession

_RUNS = next(model for model in DAILY if model.name == "runs")
_RUN_CREDENTIALS = next(model for model in DAILY if model.name == "run_credentials")


def run_costs(layout: WarehouseLayout, run_id: str, day: date) -> dict[str, Decimal | None]:
    """platform -> X's estimated cost of this run (None where the platform bills nothing)."""
    rows = _priced(layout, _RUNS, day)
    return {row["platform"]: row["x_estimated_cost_usd"] for row in rows if row["run_id"] == run_id}


def credential_costs(
    layout: WarehouseLayout, run_id: str, day: date
) -> dict[tuple[str, str], Decimal | None]:
    """(platform, credential label) -> X's estimated cost of this run's shards that used
    that credential (None where the platform bills nothing)."""
    rows = _priced(layout, _RUN_CREDENTIALS, day)
    return {
        (row["platform"], row["credential"]): row["x_estimated_cost_usd"]
        for row in rows
        if row["run_id"] == run_id
    }


def _priced(layout: WarehouseLayout, model: Model, day: date) -> list[dict[str, Any]]:
    """The model's rows of `day`, computed from that day's and the day before's lake files."""
    lake = delta_lake_of(layout)
    session = ModelSession(threads=2, lake=layout, bounded=layout, keep_order=False)
    try:
        for dataset in DATASETS:
            files = [
                f.path
                for f in lake.snapshot(dataset).files
                if day - timedelta(days=1) <= f.day <= day
            ]
            session.bind_dataset(dataset.name, files)
        rows: list[dict[str, Any]] = session.run(model, (day, day)).to_pylist()
    finally:
        session.close()
    return rows
