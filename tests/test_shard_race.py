"""The race a fan-out parent's resubmission opens (`fanout.py`): the abandoned run of a shard
was not dead after all, and lands the shard at the same moment as its resubmitted run. Both
attempts run `run_plan.snapshot_shard` of one shard of one run in threads of this process,
held at each lake commit (the `delta-commit` pause point) until the other reaches it too, so
that their commits race for the same table version. Whichever wins, or if both commit one
after the other, every account of the run keeps exactly one row and each shard one run
record per platform."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from deltalake import DeltaTable

from followerledger import pause, run_plan
from followerledger.delta_lake import OBSERVATIONS, RUN_LOG
from followerledger.shards import ShardSpec
from followerledger.sources.prefect_budgets import LocalBudgets
from tests.conftest import Workspace

WATCHLIST = """\
brands:
  A:
    x: [{x}]
    bluesky: [{bluesky}]
"""


def test_two_runs_of_one_shard_committing_at_once_leave_one_row_per_account(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace.watchlist.write_text(
        WATCHLIST.format(
            x=", ".join(f"racer{i}" for i in range(30)),
            bluesky=", ".join(f"racer{i}.example.com" for i in range(20)),
        ),
        encoding="utf-8",
    )
    run = run_plan.start_run(None, None)
    specs = run_plan.shard_specs(run, 3)
    for spec in specs:
        run_plan.snapshot_shard(run, spec, LocalBudgets(), {})
    together = threading.Barrier(2)
    reached: Counter[str] = Counter()
    real_point = pause.point

    def side_by_side(name: str) -> None:
        if name == "delta-commit":
            reached[threading.current_thread().name] += 1
            try:
                together.wait(timeout=20)
            except threading.BrokenBarrierError:
                together.reset()  # the other attempt gave up: go on alone
        real_point(name)

    monkeypatch.setattr(pause, "point", side_by_side)
    outcomes: list[str] = []
    with ThreadPoolExecutor(2, thread_name_prefix="attempt") as pool:
        futures = [
            pool.submit(run_plan.snapshot_shard, run, ShardSpec(1, 3), LocalBudgets(), {})
            for _ in range(2)
        ]
        for future in futures:
            error = future.exception()
            outcomes.append("landed" if error is None else f"lost: {error}")
    assert "landed" in outcomes, outcomes
    assert len(reached) == 2, reached  # both attempts got as far as a commit
    print(f"two attempts of shard 1 at once: {outcomes}")

    table = DeltaTable(workspace.lake.table_uri(OBSERVATIONS)).to_pyarrow_table().to_pylist()
    rows = Counter(
        (r["platform"], r["requested_handle"]) for r in table if r["run_id"] == run.run_id
    )
    assert len(rows) == 50
    assert set(rows.values()) == {1}
    log = DeltaTable(workspace.lake.table_uri(RUN_LOG)).to_pyarrow_table().to_pylist()
    records = Counter((r["platform"], r["shard"]) for r in log if r["run_id"] == run.run_id)
    assert set(records.values()) == {1}
    assert {shard for _, shard in records} == {0, 1, 2}
