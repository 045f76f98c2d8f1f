"""The snapshot models: recomputed whole once the daily models are up to date."""

from __future__ import annotations

from followerledger.models import LAKE_DATASETS, SNAPSHOT
from followerledger.refresh.mart_build import MartBuild


def refresh_snapshots(build: MartBuild) -> None:
    """Rebuild every snapshot model; the lake is bound only when one of them reads it."""
    if any(name in LAKE_DATASETS for model in SNAPSHOT for name in model.depends_on):
        build.bind_lake()
        build.session.create_staging()
    for model in SNAPSHOT:
        with build.timed(model.name):
            table = build.session.run(model)
        key = build.write(model, table)
        build.session.bind_table(model.name, table)
        build.state.marts[model.name] = [key]
