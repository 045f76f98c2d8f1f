"""What a run cost, priced by the `runs` model over the lake files of its day.

The flow uses this for its artifacts right after landing, before any refresh; the numbers
are the ones the `runs` relation will hold, because they come from the same model.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from followerledger.lake import lake_of
from followerledger.layout import WarehouseLayout
from followerledger.manifest import ManifestStore
from followerledger.models import DAILY, LAKE_DATASETS
from followerledger.models.session import ModelSession

_RUNS = next(model for model in DAILY if model.name == "runs")


def run_costs(layout: WarehouseLayout, run_id: str, day: date) -> dict[str, Decimal | None]:
    """platform -> X's estimated cost of this run (None where the platform bills nothing)."""
    lake = lake_of(layout)
    state = ManifestStore(layout).load()
    session = ModelSession(threads=2, lake=layout)
    try:
        for dataset in LAKE_DATASETS:
            files = [
                lake.path(f.key)
                for f in state.current(lake, dataset)
                if day - timedelta(days=1) <= f.day <= day
            ]
            session.bind_dataset(dataset, files)
        rows = session.run(_RUNS, (day, day)).to_pylist()
    finally:
        session.close()
    return {row["platform"]: row["x_estimated_cost_usd"] for row in rows if row["run_id"] == run_id}
