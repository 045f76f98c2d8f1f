"""Several credentials per platform: the list syntax, labels, one rate budget (and Prefect
global concurrency limit) per credential, requests spread over the credentials, and every
credential redacted."""

from __future__ import annotations

import json
import pickle
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import hypothesis.strategies as st
import pytest
from click.testing import CliRunner
from hypothesis import given
from prefect.client.orchestration import get_client

from followerledger.artifacts import platform_rows
from followerledger.cli import main
from followerledger.emulator import EmulatorServer, EmulatorState
from followerledger.flows.snapshot import snapshot_flow
from followerledger.layout import WarehouseLayout
from followerledger.refresh import refresh
from followerledger.run_log import RunRecord
from followerledger.run_summary import CredentialSummary, credential_lines, of_run, summarize_run
from followerledger.secret_blocks import with_secret_blocks
from followerledger.settings import SettingsError, load_settings, parse_secret_list
from followerledger.shards import shard_of
from followerledger.sources import (
    build_source,
    credential_count,
    credential_labels,
    missing_config,
    planned_requests,
)
from followerledger.sources.base import Target
from followerledger.sources.prefect_budgets import SharedBudgets, limit_name
from followerledger.sources.throttle import RatePolicy
from followerledger.sources.x import TOKEN
from tests.conftest import Workspace

#: What a token may be made of in a comma- or newline-separated list.
TOKEN_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters=",\n\r", exclude_categories=["C"]),
    min_size=1,
    max_size=30,
).filter(lambda text: text.strip() == text and text and not text.startswith("["))
SEPARATORS = st.sampled_from([",", "\n", ", ", " ,", ",\n", "\r\n", ",,", "\n\n"])


@given(
    tokens=st.lists(TOKEN_TEXT, min_size=1, max_size=8, unique=True),
    separators=st.lists(SEPARATORS, min_size=8, max_size=8),
    edges=st.tuples(st.sampled_from(["", " ", ",", "\n"]), st.sampled_from(["", " ", ",", "\n"])),
)
def test_a_separated_list_reads_back_as_its_tokens_in_order(
    tokens: list[str], separators: list[str], edges: tuple[str, str]
) -> None:
    text = tokens[0] + "".join(
        sep + token for sep, token in zip(separators[: len(tokens) - 1], tokens[1:], strict=True)
    )
    assert parse_secret_list(edges[0] + text + edges[1]) == tokens


@given(
    tokens=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=8, unique=True),
    blanks=st.lists(st.sampled_from(["", " ", "\t"]), max_size=3),
)
def test_a_json_list_reads_back_as_its_tokens_without_blanks(
    tokens: list[str], blanks: list[str]
) -> None:
    # Entries are stripped, so tokens that differ only by surrounding spaces are one token.
    expected = list(dict.fromkeys(token.strip() for token in tokens if token.strip()))
    if len(expected) < len([t for t in tokens if t.strip()]):
        return
    assert parse_secret_list(json.dumps([*blanks, *tokens, *blanks])) == expected


@given(
    tokens=st.lists(TOKEN_TEXT, min_size=2, max_size=6, unique=True),
    data=st.data(),
)
def test_a_repeated_token_is_refused_by_position_never_by_value(
    tokens: list[str], data: st.DataObject
) -> None:
    repeated = data.draw(st.integers(0, len(tokens) - 1))
    at = data.draw(st.integers(repeated + 1, len(tokens)))
    written = [*tokens[:at], tokens[repeated], *tokens[at:]]
    with pytest.raises(SettingsError) as raised:
        load_settings(x_bearer_tokens=",".join(written))
    message = str(raised.value)
    assert message.startswith(f"X_BEARER_TOKENS: entry {at + 1} repeats entry {repeated + 1} ")
    assert all(token not in message for token in tokens if len(token) > 3)


def test_the_singular_credential_comes_first_and_may_not_repeat_in_the_list() -> None:
    settings = load_settings(x_bearer_token="tok-one", x_bearer_tokens="tok-two\ntok-three")
    assert credential_count(settings, "x") == 3
    assert credential_labels(settings, "x") == [
        "X_BEARER_TOKEN",
        "X_BEARER_TOKENS[1]",
        "X_BEARER_TOKENS[2]",
    ]
    assert [value.secret.get_secret_value() for value in settings.credentials(TOKEN)] == [
        "tok-one",
        "tok-two",
        "tok-three",
    ]
    # A platform without a credential counts as one, labelled None.
    assert (credential_count(settings, "bluesky"), credential_labels(settings, "bluesky")) == (
        1,
        [None],
    )
    with pytest.raises(SettingsError) as raised:
        load_settings(x_bearer_token="tok-one", x_bearer_tokens='["tok-two", "tok-one"]')
    assert str(raised.value).startswith("X_BEARER_TOKENS: entry 2 repeats X_BEARER_TOKEN ")
    assert "tok-" not in str(raised.value)


def test_the_plural_alone_is_enough_and_none_at_all_names_both_variables() -> None:
    only_plural = load_settings(x_bearer_token=None, x_bearer_tokens=" , tok-a , ")
    assert missing_config(only_plural, ["x"]) == []
    assert credential_labels(only_plural, "x") == ["X_BEARER_TOKENS[1]"]
    [problem] = missing_config(load_settings(x_bearer_token="", x_bearer_tokens=" , "), ["x"])
    assert problem.startswith("X_BEARER_TOKEN is empty: ")
    assert "(several: X_BEARER_TOKENS)" in problem


def test_each_credential_has_its_own_budget_and_every_client_redacts_them_all(
    emulator: EmulatorServer,
) -> None:
    settings = load_settings(
        x_api_url=emulator.url, x_bearer_token="tok-one", x_bearer_tokens="tok-two,tok-three"
    )
    seen: list[RatePolicy] = []

    def throttle_for(policy: RatePolicy) -> Callable[[], None]:
        seen.append(policy)
        return lambda: None

    sources = [
        build_source("x", settings, credential=index, throttle_for=throttle_for)
        for index in range(3)
    ]
    assert [policy.name for policy in seen] == ["x", "x-2", "x-3"]
    assert {(policy.limit, policy.per_seconds) for policy in seen} == {(300, 900.0)}
    assert [source.credential for source in sources] == credential_labels(settings, "x")
    batches = [[Target("DellOutlet")], [Target("Dell")]]
    assert planned_requests("x", batches, settings, credential=2) == {seen[2]: 2}
    for source in sources:
        client = source.client  # type: ignore[attr-defined]
        assert client.redact("tok-one tok-two tok-three") == "*** *** ***"
    assert "tok-" not in repr(sources) + repr(settings)
    with pytest.raises(ValueError, match="X has 3 credential"):
        build_source("x", settings, credential=3)


def test_each_source_sends_its_own_credential(workspace: Workspace) -> None:
    tokens = ["tok-one", "tok-two", "tok-three"]
    state = workspace.emulator.state
    state.x_bearer_tokens = frozenset(tokens[:2])  # the third is not a valid token
    settings = load_settings(x_bearer_token=None, x_bearer_tokens=json.dumps(tokens))
    sources = [build_source("x", settings, credential=index) for index in range(3)]
    for source, sends in zip(sources, [2, 1, 1], strict=True):
        for _ in range(sends):
            [row] = source.fetch([Target("DellOutlet")], "run-1")
    assert dict(state.credential_requests) == {("x", "tok-one"): 2, ("x", "tok-two"): 1}
    assert row.status == "error"
    assert row.detail == ("X rejected the token (HTTP 401: Unauthorized): check X_BEARER_TOKENS[3]")
    assert [source.usage().requests for source in sources] == [2, 1, 1]


def test_youtube_keys_each_spend_their_own_quota() -> None:
    state = EmulatorState(youtube_api_keys={"key-a", "key-b"})
    with EmulatorServer(state) as emulator:
        settings = load_settings(
            youtube_api_url=f"{emulator.url}/youtube/v3",
            youtube_api_key="key-a",
            youtube_api_keys="key-b",
        )
        for index in range(2):
            [row] = build_source("youtube", settings, credential=index).fetch(
                [Target("@Dell")], "run-1"
            )
            assert row.status == "ok", row.detail
    assert dict(state.credential_requests) == {("youtube", "key-a"): 1, ("youtube", "key-b"): 1}


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_each_credential_is_a_global_concurrency_limit_of_its_own() -> None:
    settings = load_settings(x_bearer_token="tok-one", x_bearer_tokens="tok-two,tok-three")
    budgets = SharedBudgets()
    policies: list[RatePolicy] = []

    def throttle_for(policy: RatePolicy) -> Callable[[], None]:
        policies.append(policy)
        return budgets(policy)

    for k in range(3):
        build_source("x", settings, credential=k, throttle_for=throttle_for)
    names = ["followerledger-x", "followerledger-x-2", "followerledger-x-3"]
    with get_client(sync_client=True) as client:
        before = {name: client.read_global_concurrency_limit_by_name(name) for name in names}
        batches = [[Target(f"acct{n}")] for n in range(20)]
        budgets.reserve(planned_requests("x", batches, settings, credential=2))
        after = {name: client.read_global_concurrency_limit_by_name(name) for name in names}
    assert [limit_name(policy) for policy in policies] == names
    for name in names:
        assert (after[name].limit, round(after[name].slot_decay_per_second, 4)) == (300, 0.3333)
    # Only the third credential's limit took the 20 slots (they decay at 1/3 per second).
    assert (
        after["followerledger-x-3"].active_slots >= before["followerledger-x-3"].active_slots + 15
    )
    assert after["followerledger-x-2"].active_slots <= before["followerledger-x-2"].active_slots


@pytest.mark.prefect
def test_several_secret_blocks_are_read_in_order_up_to_the_first_missing(
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    secret_blocks: Callable[[str, str], None],
) -> None:
    monkeypatch.delenv("X_BEARER_TOKEN")
    secret_blocks("followerledger-x-bearer-token", "block-tok-1")
    secret_blocks("followerledger-x-bearer-token-2", "block-tok-2")
    secret_blocks("followerledger-x-bearer-token-3", "block-tok-3")
    secret_blocks("followerledger-x-bearer-token-5", "block-tok-5")  # after a gap: not read
    settings = with_secret_blocks(load_settings())
    assert credential_labels(settings, "x") == [
        "followerledger-x-bearer-token",
        "followerledger-x-bearer-token-2",
        "followerledger-x-bearer-token-3",
    ]
    assert settings.redact("block-tok-1 block-tok-2 block-tok-3") == "*** *** ***"
    assert missing_config(settings, ["x"]) == []
    # The environment wins: with X_BEARER_TOKENS set, no block is read.
    monkeypatch.setenv("X_BEARER_TOKENS", "env-tok")
    assert credential_labels(with_secret_blocks(load_settings()), "x") == ["X_BEARER_TOKENS[1]"]


def test_a_platform_on_several_credentials_is_broken_down_in_the_summary_table_and_cli() -> None:
    at = datetime(2026, 11, 2, 12, tzinfo=UTC)

    def record(shard: int, credential: str | None, ok: int, requests: int) -> RunRecord:
        return RunRecord("r1", "x", at, at + timedelta(seconds=shard), requests, None,
                         {"ok": ok, "error": 1}, "api", shard, credential)  # fmt: skip

    records = [
        record(0, "X_BEARER_TOKEN", 3, 1),
        record(1, "X_BEARER_TOKENS[1]", 2, 2),
        record(2, "X_BEARER_TOKEN", 1, 3),
        RunRecord("r1", "bluesky", at, at, 1, None, {"ok": 4}, "api", 0, None),
    ]
    costs = {("x", "X_BEARER_TOKEN"): Decimal("0.040"), ("x", "X_BEARER_TOKENS[1]"): None}
    summary = summarize_run("r1", at, records, {"x": Decimal("0.040")}, {}, costs)
    x, bluesky = summary.platforms
    assert (x.statuses, x.requests, x.finished_at) == (
        {"error": 3, "ok": 6},
        6,
        at + timedelta(seconds=2),
    )
    assert x.credentials == (
        CredentialSummary("X_BEARER_TOKEN", {"error": 2, "ok": 4}, 4, None, 0.04),
        CredentialSummary("X_BEARER_TOKENS[1]", {"error": 1, "ok": 2}, 2, None, None),
    )
    assert bluesky.credentials == ()
    assert pickle.loads(pickle.dumps(summary)) == summary  # noqa: S301 (our own bytes)
    assert credential_lines(x) == [
        "  X_BEARER_TOKEN: 6 accounts in 4 requests, $0.040",
        "  X_BEARER_TOKENS[1]: 3 accounts in 2 requests",
    ]
    assert credential_lines(bluesky) == []
    rows = platform_rows(summary.platforms)
    assert [
        (r["platform"], r["credential"], r["accounts"], r["requests"], r["cost"]) for r in rows
    ] == [
        ("x", "all", 9, 6, 0.04),
        ("x", "X_BEARER_TOKEN", 6, 4, 0.04),
        ("x", "X_BEARER_TOKENS[1]", 3, 2, None),
        ("bluesky", None, 4, 1, None),
    ]
    # One credential: no breakdown, and the table keeps its columns.
    single = summarize_run("r1", at, records[:1], {}, {})
    assert "credential" not in platform_rows(single.platforms)[0]


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_a_snapshot_spreads_its_shards_over_three_tokens(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = ["tok-alpha", "tok-beta", "tok-gamma"]
    state = workspace.emulator.state
    state.x_bearer_tokens = frozenset(tokens)  # any other token is refused with a 401
    monkeypatch.delenv("X_BEARER_TOKEN")
    monkeypatch.setenv("X_BEARER_TOKENS", "\n".join(tokens))
    handles = [f"Brand{n:02d}" for n in range(40)]
    workspace.watchlist.write_text(
        f"brands:\n  Many:\n    x: [{', '.join(handles)}]\n", encoding="utf-8"
    )
    shards = 6
    result = of_run(snapshot_flow(shards=shards))
    # Shard k sends token k mod 3: one request per shard with X accounts (40 < 100 each).
    per_shard = Counter(shard_of("x", handle.lower(), shards) for handle in handles)
    expected: Counter[str] = Counter()
    for k in per_shard:
        expected[tokens[k % 3]] += 1
    assert dict(state.credential_requests) == {("x", t): n for t, n in expected.items()}
    assert len(expected) == 3  # every token was used
    [x] = result.platforms
    assert x.accounts == 40
    assert {share.credential: share.requests for share in x.credentials} == {
        f"X_BEARER_TOKENS[{tokens.index(t) + 1}]": n for t, n in expected.items()
    }
    assert {share.credential: share.accounts for share in x.credentials} == {
        f"X_BEARER_TOKENS[{j + 1}]": sum(n for k, n in per_shard.items() if k % 3 == j)
        for j in range(3)
    }
    refresh(WarehouseLayout.at(workspace.warehouse, workspace.lake.root), None)
    with duckdb.connect(str(workspace.catalog), read_only=True) as connection:
        by_credential = connection.sql(
            "select credential, shards, requests, accounts, x_billed_reads "
            "from run_credentials order by credential"
        ).fetchall()
    assert by_credential == [
        (
            f"X_BEARER_TOKENS[{j + 1}]",
            sum(1 for k in per_shard if k % 3 == j),
            expected[tokens[j]],
            x.credentials[j].accounts,
            x.credentials[j].statuses.get("ok", 0),
        )
        for j in range(3)
    ]


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_the_snapshot_command_prints_a_line_per_credential(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X_BEARER_TOKENS", "tok-second")  # after X_BEARER_TOKEN's
    monkeypatch.setenv("FOLLOWERLEDGER_SHARDS", "2")
    handles = [f"Brand{n:02d}" for n in range(40)]
    workspace.watchlist.write_text(
        f"brands:\n  Many:\n    x: [{', '.join(handles)}]\n", encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["snapshot"])
    assert result.exit_code == 0, result.output
    per_shard = Counter(shard_of("x", handle.lower(), 2) for handle in handles)
    lines = result.output.splitlines()
    # Every user is read for the first time today: X bills each, $0.010 a read.
    assert lines[1:3] == [
        f"  X_BEARER_TOKEN: {per_shard[0]} accounts in 1 requests, ${per_shard[0] / 100:.3f}",
        f"  X_BEARER_TOKENS[1]: {per_shard[1]} accounts in 1 requests, ${per_shard[1] / 100:.3f}",
    ]
    assert "tok-second" not in result.output
