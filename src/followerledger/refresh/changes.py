"""What changed since the last refresh: the lake files added and vanished, the inputs other
than the lake, the accounts watched handles stand for, and so the UTC days to recompute."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from datetime import date, timedelta

from followerledger.delta_lake import DATASETS, DeltaFile, DeltaLake, partition_day
from followerledger.manifest import BuildManifest
from followerledger.models import ALL_MODELS, DAILY, SEEDS
from followerledger.models.duckdb_sql import sql_text
from followerledger.models.session import ModelSession, watchlist_tables
from followerledger.refresh.days import days_between
from followerledger.watchlist import Watchlist


@dataclasses.dataclass(frozen=True, slots=True)
class LakeChanges:
    """The files the lake's tables name at their latest versions, compared with those the
    marts reflect (the manifest's `lake_files`, read at `lake_versions`)."""

    #: Every dataset's current files.
    files: dict[str, list[DeltaFile]]
    #: Each current file's (size, rows): what the manifest records as reflected.
    current: dict[str, tuple[int, int]]
    #: Each current file's partition day.
    file_days: dict[str, date]
    #: Files new since the marts were computed, per dataset.
    added: dict[str, list[DeltaFile]]
    #: Files the marts reflect that no version names any more (a re-run replaced them).
    vanished: list[str]
    #: Each dataset's table version read (absent: no table yet).
    versions: dict[str, int]

    @classmethod
    def of(cls, lake: DeltaLake, state: BuildManifest) -> LakeChanges:
        """The changes of `lake` since `state`, from its tables' logs: a table still at the
        version the marts reflect (`state.lake_versions`) has nothing new; another names, at
        its latest version, the files added since (not in `state.lake_files`) and no longer
        the ones that vanished (replaced by a re-run or a compaction)."""
        snapshots = {dataset.name: lake.snapshot(dataset) for dataset in DATASETS}
        files = {name: list(snapshot.files) for name, snapshot in snapshots.items()}
        current = {f.key: (f.size, f.rows) for found in files.values() for f in found}
        unchanged = {
            name
            for name, snapshot in snapshots.items()
            if snapshot.version is not None and state.lake_versions.get(name) == snapshot.version
        }
        return cls(
            files,
            current,
            {f.key: f.day for found in files.values() for f in found},
            {
                dataset: [] if dataset in unchanged else [f for f in found if not state.reflects(f)]
                for dataset, found in files.items()
            },
            [
                key
                for key, seen in state.lake_files.items()
                if key.split("/", 1)[0] not in unchanged and current.get(key) != seen
            ],
            {
                name: snapshot.version
                for name, snapshot in snapshots.items()
                if snapshot.version is not None
            },
        )

    @property
    def new_files(self) -> int:
        """How many files were added."""
        return sum(len(files) for files in self.added.values())


def inputs_digest(watchlist: Watchlist | None, parameters: Mapping[str, object]) -> str:
    """A digest of what every model is computed from besides the lake: the SQL and macros,
    the seeds, the parameters and the watchlist as written (brands, handles, landscapes)."""
    digest = hashlib.sha256()
    for model in ALL_MODELS:
        digest.update(f"{model.path}\0{model.spec}\0{model.sql}\0".encode())
    digest.update(sql_text("macros.sql").encode())
    for seed in SEEDS:
        digest.update(f"{seed.path}\0{seed.spec}\0{sql_text(seed.path)}\0".encode())
    accounts, landscapes = watchlist_tables(watchlist)
    written = {
        "parameters": sorted((name, repr(value)) for name, value in parameters.items()),
        "watchlist": sorted(tuple(row.values()) for row in accounts.to_pylist()),
        "landscapes": sorted(tuple(row.values()) for row in landscapes.to_pylist()),
    }
    digest.update(json.dumps(written, sort_keys=True).encode())
    return digest.hexdigest()


def handle_taken_over(session: ModelSession, state: BuildManifest) -> bool:
    """True when a watched handle that stood for one account now stands for another (a
    handle taken over): brand membership changed on every day, so the daily models are
    emptied in `state` to be rebuilt. Records what each handle stands for now.

    A handle resolving for the first time needs nothing more: its unresolved history is
    re-keyed day by day (`unresolved_handles`), and the brand's account count is the same.
    """
    rows = session.query(
        "select platform, handle_key, account_key from watched_accounts "
        "where account_key not like platform || ':@%' order by all"
    ).to_pylist()
    resolved = {f"{row['platform']}:{row['handle_key']}": row["account_key"] for row in rows}
    before: dict[str, str] = json.loads(state.inputs.get("watched_accounts", "{}"))
    taken_over = any(resolved.get(entry, account) != account for entry, account in before.items())
    if taken_over:
        for model in DAILY:
            state.marts[model.name] = []
    state.inputs["watched_accounts"] = json.dumps(resolved, sort_keys=True)
    return taken_over


def resolved_identity(session: ModelSession) -> dict[tuple[str, str], str]:
    """The account id each (platform, handle key) resolves to, as the session has it now."""
    rows = session.query("select platform, handle_key, account_id from identity_map").to_pylist()
    return {(row["platform"], row["handle_key"]): row["account_id"] for row in rows}


def touched_days(
    session: ModelSession,
    changes: LakeChanges,
    paths: list[str],
    identity_before: Mapping[tuple[str, str], str],
) -> set[date]:
    """The UTC days whose daily rows must change, once the incremental models hold the
    added observations (read from `paths`)."""
    session.bind_observations("added_observations", paths)
    touched = {
        row["day"]
        for row in session.query(
            "select distinct utc_day(observed_at) as day from added_observations"
        ).to_pylist()
    }
    for dataset, files in changes.added.items():
        if dataset != "observations":
            touched.update(f.day for f in files)
    # A replaced or removed file: its partition day and the next (a run that started
    # before midnight may hold rows of the following day).
    for key in changes.vanished:
        day = partition_day(key)
        touched.update({day, day + timedelta(days=1)})
    # Handles that now resolve to a different (or a first) account: re-key their history.
    identity_after = resolved_identity(session)
    remapped = {
        key for key, account in identity_after.items() if identity_before.get(key) != account
    }
    if remapped:
        for span in session.query(
            "select platform, handle_key, first_day, last_day from unresolved_handles"
        ).to_pylist():
            if (span["platform"], span["handle_key"]) in remapped:
                touched.update(days_between(span["first_day"], span["last_day"]))
    return touched
