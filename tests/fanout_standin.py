"""A stand-in for the shard flow (`snapshot_flow(..., shard=...)` of branch i15-core) while
that branch is not merged: deployed as `snapshot/snapshot-shard` by
`tests/test_fanout_workers.py`, run by the test's process workers. It snapshots the accounts
of its shard only (the test writes one watchlist per shard, `<watchlist>-s<k>.yaml`) under
the run id `<run_id>-s<k>`, so that shards do not replace each other's rows (the lake has no
`shard` column before i15-core); a resubmitted shard replaces exactly its own rows."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from followerledger.flows.snapshot import snapshot_flow

_RUNNER: Any = ThreadPoolTaskRunner(max_workers=16)


def shard_run_id(run_id: str, shard: int) -> str:
    """The run id a stand-in shard lands under."""
    return f"{run_id}-s{shard:02d}"


def shard_watchlist(path: Path, shard: int) -> Path:
    """The watchlist file of one shard, beside the whole one."""
    return path.with_name(f"{path.stem}-s{shard:02d}{path.suffix}")


@flow(name="snapshot", task_runner=_RUNNER)
def shard_standin(
    platforms: list[str] | None = None,
    run_id: str | None = None,
    shards: int | None = None,
    shard: int | None = None,
    started_at: str | None = None,
) -> Any:
    """Snapshot shard `shard` of run `run_id` (the shard deployment's parameters)."""
    if run_id is None or shard is None or shards is None:
        raise ValueError("a shard run needs run_id, shard and shards")
    whole = Path(os.environ["FOLLOWERLEDGER_WATCHLIST"])
    os.environ["FOLLOWERLEDGER_WATCHLIST"] = str(shard_watchlist(whole, shard))
    return snapshot_flow.fn(platforms, shard_run_id(run_id, shard))
