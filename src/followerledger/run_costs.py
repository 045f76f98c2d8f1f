"""What a run cost, priced by the `runs` model over the lake files of its day.

The flow uses this for its artifacts right after landing, before any refresh; the numbers
are the ones the `runs` relation will hold, because they come from the same model.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from followerledger.delta_lake import DATASETS, delta_lake_of
from followerledger.layout import WarehouseLayout
from followerledger.models import DAILY
from followerledger.models.session import ModelSession

_RUNS = next(model for model in DAILY if model.name == "runs")


def run_costs(layout: WarehouseLayout, run_id: str, day: date) -> dict[str, Decimal | None]:
    """platform -> X's estimated cost of this run (None where the platform bills nothing)."""
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
        rows = session.run(_RUNS, (day, day)).to_pylist()
    finally:
        session.close()
    return {row["platform"]: row["x_estimated_cost_usd"] for row in rows if row["run_id"] == run_id}
