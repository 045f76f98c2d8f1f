"""The incremental models: their stored rows merged with the rows of new lake files."""

from __future__ import annotations

from datetime import date

from followerledger.models import INCREMENTAL
from followerledger.refresh.changes import resolved_identity, touched_days
from followerledger.refresh.mart_build import MartBuild


def refresh_incremental(build: MartBuild, rebuild: bool) -> set[date]:
    """Update the incremental models (from every lake file when `rebuild`); the UTC days
    whose daily rows must change."""
    session, changes = build.session, build.changes
    if rebuild:
        for model in INCREMENTAL:
            session.bind_parquet(model.name, [], model.columns)
    else:
        build.bind_stored(INCREMENTAL)
    build.bind_lake(date.max, date.max)  # staging needs `observations`; none are read here
    session.create_staging()
    # The identity map as it was, to find handles that resolve differently now.
    identity_before = {} if rebuild else resolved_identity(session)

    observations = changes.files["observations"] if rebuild else changes.added["observations"]
    session.bind_observations("new_observations", build.paths(observations))
    for model in INCREMENTAL:
        previous = [] if rebuild else build.state.marts.get(model.name, [])
        session.bind_parquet(
            f"{model.name}_previous", [build.marts.path(k) for k in previous], model.columns
        )
        with build.timed(model.name):
            table = session.run(model)
        build.state.marts[model.name] = [build.write(model, table)]
        session.bind_table(model.name, table)
    session.create_staging()
    added = build.paths(changes.added["observations"])
    with build.timed("touched days"):
        return touched_days(session, changes, added, identity_before)


def bind_incremental(build: MartBuild) -> None:
    """Bind the incremental models as stored, when nothing changed that they reflect."""
    build.bind_stored(INCREMENTAL)
    build.bind_lake(date.max, date.max)
    build.session.create_staging()
