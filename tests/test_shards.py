"""Shards: the stable assignment, the `auto` count and its setting, and one shard's whole
work done by `run_plan.snapshot_shard` without Prefect, against the emulator."""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import pytest
from click.testing import CliRunner
from deltalake import DeltaTable
from hypothesis import given
from hypothesis import strategies as st
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from followerledger import landing, progress, run_plan, shards
from followerledger.cli import main
from followerledger.configured_refresh import refresh_configured
from followerledger.delta_lake import OBSERVATIONS, RUN_LOG
from followerledger.errors import ConfigError
from followerledger.lake import LakeError
from followerledger.landing import read_run_records
from followerledger.run_log import combined
from followerledger.run_summary import of_run
from followerledger.settings import load_settings
from followerledger.shards import ShardAssignment, ShardSpec, auto_shards, parse_shards, shard_of
from followerledger.sources.prefect_budgets import LocalBudgets
from followerledger.watchlist import WatchedAccount, load_watchlist, normalize_handle
from followerledger.watchlist.accounts import WatchedAccounts
from tests.conftest import Workspace

keys = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)


@given(key=keys, shards=st.integers(1, 64))
def test_a_shard_is_in_range_and_the_same_every_time(key: str, shards: int) -> None:
    first = shard_of("x", key, shards)
    assert 0 <= first < shards
    assert shard_of("x", key, shards) == first


@given(users=st.lists(st.from_regex(r"[a-z0-9_]{1,20}", fullmatch=True), min_size=2))
def test_a_mastodon_instance_is_never_split(users: list[str]) -> None:
    assert len({shard_of("mastodon", f"{user}@example.social", 8) for user in users}) == 1


def test_the_assignment_is_the_same_in_another_process() -> None:
    """blake2b, not Python's per-process salted hash: another interpreter (another hash seed)
    assigns every account alike, as a worker on another machine must."""
    handles = [f"acct{i}" for i in range(200)]
    here = [shard_of("x", handle, 7) for handle in handles]
    code = (
        "import json, sys; from followerledger.shards import shard_of; "
        "print(json.dumps([shard_of('x', h, 7) for h in json.loads(sys.argv[1])]))"
    )
    there = subprocess.run(
        [sys.executable, "-c", code, json.dumps(handles)],
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(there.stdout) == here


def test_accounts_spread_over_the_shards() -> None:
    counts = Counter(shard_of("bluesky", f"acct{i}.example.com", 4) for i in range(10_000))
    assert sorted(counts) == [0, 1, 2, 3]
    assert all(2_000 <= count <= 3_000 for count in counts.values())


def test_the_runs_assignment_hashes_each_account_once_for_all_its_shards(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run's shards share one `ShardAssignment`: each platform's accounts are hashed once
    (not once per shard), and each shard reads exactly the accounts `shard_of` puts in it."""
    accounts = WatchedAccounts.of(
        [WatchedAccount("Brand", "x", f"Acct{i}", None) for i in range(300)]
        + [WatchedAccount("Brand", "bluesky", f"acct{i}.example.com", None) for i in range(100)]
        + [WatchedAccount("Brand", "mastodon", f"u{i}@host{i % 7}.social", None) for i in range(70)]
    )
    hashed = Counter[str]()

    def counted(platform: str, key: str, count: int) -> int:
        hashed[platform] += 1
        return shard_of(platform, key, count)

    monkeypatch.setattr(shards, "shard_of", counted)
    assignment = ShardAssignment(accounts)
    for platform in ("x", "bluesky", "mastodon"):
        members = [assignment.members(platform, ShardSpec(k, 5)) for k in range(5)]
        indexes = accounts.on_platform(platform)
        assert sorted(i for shard in members for i in shard) == list(indexes)
        for k, shard in enumerate(members):
            assert all(shard_of(platform, accounts.key(i), 5) == k for i in shard)
    assert hashed == {"x": 300, "bluesky": 100, "mastodon": 70}
    # A pickled assignment (a worker's) keeps what was hashed and can still be asked.
    again = pickle.loads(pickle.dumps(assignment))  # noqa: S301 (its own bytes)
    assert again.members("x", ShardSpec(2, 5)) == assignment.members("x", ShardSpec(2, 5))
    assert hashed["x"] == 300


def test_auto_takes_one_shard_per_25000_accounts_from_1_to_8() -> None:
    assert [auto_shards(n) for n in (0, 1, 25_000, 25_001, 100_000, 200_001, 10**6)] == [
        1,
        1,
        1,
        2,
        4,
        8,
        8,
    ]


def test_the_setting_takes_auto_or_a_whole_number_and_names_itself_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert parse_shards("AUTO") == "auto"
    assert parse_shards(" 3 ") == 3
    for bad in ("0", "-2", "two", "1.5", ""):
        monkeypatch.setenv("FOLLOWERLEDGER_SHARDS", bad)
        with pytest.raises(ConfigError) as raised:
            load_settings()
        message = str(raised.value)
        assert message.startswith("FOLLOWERLEDGER_SHARDS: must be 'auto' or a whole number")
        assert "\n" not in message
        assert bad.strip() == "" or f"'{bad}'" not in message  # the rule, never the value


WATCHLIST = """\
brands:
  A:
    x: [{x}]
    bluesky: [{bluesky}]
    mastodon: [{mastodon}]
"""


@pytest.fixture
def sharded(workspace: Workspace) -> Workspace:
    """The workspace with 24 X, 12 Bluesky and 9 Mastodon accounts on 3 instances."""
    workspace.watchlist.write_text(
        WATCHLIST.format(
            x=", ".join(f"acct{i}" for i in range(24)),
            bluesky=", ".join(f"acct{i}.example.com" for i in range(12)),
            mastodon=", ".join(f"user{i}@inst{i % 3}.example" for i in range(9)),
        ),
        encoding="utf-8",
    )
    return workspace


def landed(workspace: Workspace, run_id: str) -> list[dict[str, Any]]:
    table = DeltaTable(workspace.lake.table_uri(OBSERVATIONS)).to_pyarrow_table()
    return [row for row in table.to_pylist() if row["run_id"] == run_id]


class Seen:
    """A progress listener that keeps what it is told."""

    def __init__(self) -> None:
        self.accounts: Counter[str] = Counter()
        self.batches: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()

    def planned(self, platform: str, accounts: int, batches: int) -> None:
        self.accounts[platform] += accounts

    def batch_done(self, platform: str, statuses: Mapping[str, int]) -> None:
        self.batches[platform] += 1
        self.rows[platform] += sum(statuses.values())

    def waiting(self, platform: str, until: datetime) -> None:
        """Not asserted here."""

    def step(self, name: str, done: int | None = None, total: int | None = None) -> None:
        """Not asserted here."""


def test_auto_takes_at_least_one_shard_per_credential(
    sharded: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = run_plan.start_run(None, None)
    assert run_plan.shard_count(run) == 1  # 45 accounts, one credential each
    monkeypatch.setenv("X_BEARER_TOKENS", "token-two,token-three")
    run = run_plan.start_run(None, None)
    assert run_plan.shard_count(run) == 3  # X_BEARER_TOKEN and two more: each sends its share
    assert run_plan.shard_count(run, 2) == 2  # a number given is kept
    credentials = {
        run_plan.credential_of(run.settings, "x", spec) for spec in run_plan.shard_specs(run)
    }
    assert credentials == {0, 1, 2}


def test_each_shard_lands_its_own_accounts_without_prefect(sharded: Workspace) -> None:
    run = run_plan.start_run(None, None)
    specs = run_plan.shard_specs(run, 3)
    assert specs == [ShardSpec(0, 3), ShardSpec(1, 3), ShardSpec(2, 3)]
    seen = Seen()
    results = []
    with progress.watching(seen):
        for spec in specs:
            results.append(run_plan.snapshot_shard(run, spec, LocalBudgets(), {}))
    rows = landed(sharded, run.run_id)
    watchlist = load_watchlist(sharded.watchlist)
    watched = sorted((a.platform, a.handle) for a in watchlist.accounts)
    assert sorted((r["platform"], r["requested_handle"]) for r in rows) == watched
    for row in rows:
        key = normalize_handle(row["platform"], row["requested_handle"])
        assert row["shard"] == shard_of(row["platform"], key, 3)
    # One record per shard and platform it had accounts of; summed, one per platform.
    records = read_run_records(sharded.lake, run.run_id, run.started_at)
    expected = sorted({(r["platform"], r["shard"]) for r in rows})
    assert sorted((r.platform, r.shard) for r in records) == expected
    totals = {r.platform: r.accounts for r in combined(records)}
    assert totals == dict(Counter(platform for platform, _ in watched))
    assert dict(seen.accounts) == totals == dict(seen.rows)
    assert sum(seen.batches.values()) == sum(len(result.batches) for result in results)
    # What the shards' records say they spent is what the platforms were asked.
    assert sum(r.requests for r in records) == sum(sharded.emulator.state.requests.values())
    # A shard's result travels between processes.
    assert pickle.loads(pickle.dumps(results[1])) == results[1]  # noqa: S301 (our own bytes)
    assert [result.shard for result in results] == specs


def test_a_shard_run_again_replaces_only_its_own_rows(sharded: Workspace) -> None:
    run = run_plan.start_run(None, None)
    for spec in run_plan.shard_specs(run, 3):
        run_plan.snapshot_shard(run, spec, LocalBudgets(), {})
    before = {(r["platform"], r["requested_handle"]): r for r in landed(sharded, run.run_id)}
    again = run_plan.snapshot_shard(run, ShardSpec(1, 3), LocalBudgets(), {})
    after = {(r["platform"], r["requested_handle"]): r for r in landed(sharded, run.run_id)}
    assert after.keys() == before.keys()  # every account still exactly once
    changed = {key for key in after if after[key]["observed_at"] != before[key]["observed_at"]}
    assert changed == {key for key, row in before.items() if row["shard"] == 1}
    assert sum(r.accounts for r in again.records) == len(changed)
    runs_log = DeltaTable(sharded.lake.table_uri(RUN_LOG)).to_pyarrow_table().to_pylist()
    logged = Counter((r["platform"], r["shard"]) for r in runs_log)
    assert set(logged.values()) == {1}  # the retried shard's records replaced, not added
    assert {shard for _, shard in logged} == {0, 1, 2}


def test_a_run_landed_again_in_fewer_shards_keeps_each_account_once(sharded: Workspace) -> None:
    """Shard 0 drops the rows of shards a run no longer has, also of a platform none of
    whose accounts fall in shard 0 (here Mastodon: its instances are elsewhere)."""
    instances = [f"inst{i}.example" for i in range(3)]
    fewer = next(
        k for k in range(2, 8) if all(shard_of("mastodon", inst, k) != 0 for inst in instances)
    )
    run = run_plan.start_run(None, None)
    for spec in run_plan.shard_specs(run, 8):
        run_plan.snapshot_shard(run, spec, LocalBudgets(), {})
    assert len(landed(sharded, run.run_id)) == 45
    for spec in run_plan.shard_specs(run, fewer):
        run_plan.snapshot_shard(run, spec, LocalBudgets(), {})
    rows = landed(sharded, run.run_id)
    assert Counter((r["platform"], r["requested_handle"]) for r in rows).most_common(1)[0][1] == 1
    assert len(rows) == 45
    assert {r["shard"] for r in rows} <= set(range(fewer))
    records = read_run_records(sharded.lake, run.run_id, run.started_at)
    assert {r.shard for r in records} <= set(range(fewer))
    assert sum(r.accounts for r in records) == 45


def test_only_a_shard_the_run_has(sharded: Workspace) -> None:
    run = run_plan.start_run(None, None)
    with pytest.raises(ConfigError, match=r"shard: 3 is not a shard of 3 \(0 to 2\)"):
        run_plan.shard_specs(run, 3, only=3)
    assert run_plan.shard_specs(run, None) == [ShardSpec(0, 1)]  # auto: 45 accounts
    assert run_plan.shard_specs(run, "2", only=1) == [ShardSpec(1, 2)]


def test_every_run_of_a_shard_keeps_one_run_id_and_start(
    sharded: Workspace, tmp_path: Path
) -> None:
    """A worker's shard of a fanned-out run lands under the parent's run id and start day."""
    parent = run_plan.start_run(None, "20261126T100000Z-abcdef")
    worker = run_plan.start_run(None, parent.run_id, started_at=parent.started_at)
    run_plan.snapshot_shard(worker, ShardSpec(0, 2), LocalBudgets(), {})
    run_plan.snapshot_shard(parent, ShardSpec(1, 2), LocalBudgets(), {})
    rows = landed(sharded, parent.run_id)
    assert len(rows) == 45
    dates = DeltaTable(sharded.lake.table_uri(OBSERVATIONS)).to_pyarrow_table(columns=["date"])
    assert set(dates.column("date").to_pylist()) == {parent.started_at.date()}


def shard_task_runs(flow_run_id: UUID) -> list[tuple[str, int]]:
    """(name, attempts) of a flow run's snapshot_shard task runs, from the Prefect server."""

    async def read() -> list[tuple[str, int]]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            return sorted(
                (run.name, run.run_count) for run in runs if run.name.startswith("snapshot_shard")
            )

    return asyncio.run(read())


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_prefect_retry_of_one_shard_replaces_only_that_shards_rows(
    sharded: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shard 1's first attempt lands its rows of a platform, then its run record fails to
    land (injected once); Prefect retries the whole shard, whose rows replace its first
    attempt's: every account is still exactly one row, and only shard 1 ran twice."""
    from followerledger.flows.snapshot import snapshot_flow

    real = landing.write_run_record
    failures: list[int] = []

    def fail_once(lake: Any, record: Any, shard: ShardSpec | None = None) -> int:
        if shard is not None and shard.index == 1 and not failures:
            failures.append(shard.index)
            raise LakeError("injected: the run log could not be written")
        return real(lake, record, shard)

    monkeypatch.setattr(landing, "write_run_record", fail_once)
    state = snapshot_flow(shards=3, return_state=True)
    result = of_run(state.result())
    assert failures == [1]
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    assert sorted(attempts for _, attempts in shard_task_runs(flow_run_id)) == [1, 1, 2]
    rows = landed(sharded, result.run_id)
    assert len(rows) == 45
    assert len({(r["platform"], r["requested_handle"]) for r in rows}) == 45
    assert {p.platform: p.accounts for p in result.platforms} == {
        "x": 24,
        "bluesky": 12,
        "mastodon": 9,
    }
    # The lake kept only the retry's commit of shard 1 (one version replaced the first).
    history = DeltaTable(sharded.lake.table_uri(OBSERVATIONS)).history()
    shard_1 = [
        entry
        for entry in history
        if "shard = 1" in str(entry.get("operationParameters", {}).get("predicate", ""))
    ]
    assert len(shard_1) >= 2  # the first attempt's commit(s) and the retry's


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_three_shard_snapshot_through_the_cli_is_one_run(
    sharded: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FOLLOWERLEDGER_SHARDS", "3")
    result = CliRunner().invoke(main, ["snapshot"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if " accounts (" in line]
    assert [line.split(" accounts")[0] for line in lines] == ["x: 24", "bluesky: 12", "mastodon: 9"]
    run_id = result.output.split("run ")[-1].split(" landed")[0]
    rows = landed(sharded, run_id)
    assert len(rows) == 45
    assert len({(r["platform"], r["requested_handle"]) for r in rows}) == 45
    assert {r["shard"] for r in rows} == {0, 1, 2}
    refresh_configured(sharded.settings, load_watchlist(sharded.watchlist), full=False)
    with duckdb.connect(str(sharded.catalog), read_only=True) as connection:
        runs = connection.sql(
            "select platform, accounts, shards from runs where run_id = ? order by platform",
            params=[run_id],
        ).fetchall()
        coverage = connection.sql(
            "select runs_expected, runs_observed, count(*) from coverage group by all"
        ).fetchall()
        logged = connection.sql(
            "select platform, count(*) from run_log where run_id = ? group by all",
            params=[run_id],
        ).fetchall()
    shards_of = {
        p: len({r["shard"] for r in rows if r["platform"] == p})
        for p in ("x", "bluesky", "mastodon")
    }
    assert runs == [
        ("bluesky", 12, shards_of["bluesky"]),
        ("mastodon", 9, shards_of["mastodon"]),
        ("x", 24, shards_of["x"]),
    ]
    assert sorted(logged) == sorted(shards_of.items())
    assert coverage == [(1, 1, 45)]  # every account expected and counted by one run
