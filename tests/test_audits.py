"""The grain audits: each catches the rows that break its rule, and the declared grain is the
one the warehouse README states. (Every audit also runs over every tiny world of
test_marts.py after each refresh, and over the demo warehouse in test_demo.py.)"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from followerledger.handles import read_handle
from followerledger.models import ALL_MODELS, DAILY, SEEDS, SNAPSHOT, VIEWS
from followerledger.models.audits import (
    ALL_AUDITS,
    GRAINS,
    RULES,
    Audit,
    audit_failures,
    key_audits,
    not_null_keys,
    unique_keys,
)
from followerledger.models.duckdb_sql import connect, quote_name
from followerledger.models.session import ModelSession
from followerledger.sources import registry
from followerledger.watchlist import normalize_handle

REPO = Path(__file__).resolve().parents[1]

Row = tuple[Any, ...]


@pytest.fixture
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    with connect(threads=1) as opened:
        yield opened


def create(
    connection: duckdb.DuckDBPyConnection, name: str, columns: str, rows: Sequence[Row]
) -> None:
    """A table `name` (`columns` as in CREATE TABLE) holding `rows`."""
    connection.execute(f"create table {quote_name(name)} ({columns})")
    marks = ", ".join("?" for _ in rows[0])
    connection.executemany(f"insert into {quote_name(name)} values ({marks})", list(rows))


def returned(connection: duckdb.DuckDBPyConnection, sql: str) -> Counter[Row]:
    return Counter(connection.sql(sql).fetchall())


# --- key audits: a duplicated key and a null key, in every relation's declared key columns


@pytest.mark.parametrize(("relation", "keys"), sorted(GRAINS.items()))
def test_key_audits_return_exactly_the_rows_that_break_the_grain(
    connection: duckdb.DuckDBPyConnection, relation: str, keys: tuple[str, ...]
) -> None:
    def row(values: str | None, note: str, null_at: int | None = None) -> Row:
        return (*(None if i == null_at else values for i in range(len(keys))), note)

    good = [row("a", "good"), row("b", "good")]
    duplicated = [row("c", "copy 1"), row("c", "copy 2")]
    # A null in each key column in turn, so every column of the key is checked.
    nulls = [row(f"n{i}", f"null {i}", null_at=i) for i in range(len(keys))]
    columns = ", ".join(f"{quote_name(key)} varchar" for key in keys)
    create(connection, relation, f"{columns}, note varchar", good + duplicated + nulls)

    assert returned(connection, unique_keys(relation, keys).sql) == Counter(duplicated)
    assert returned(connection, not_null_keys(relation, keys).sql) == Counter(nulls)
    failures = audit_failures(connection, key_audits(relation, keys))
    assert set(failures) == {f"{relation}.unique_keys", f"{relation}.not_null_keys"}


def test_a_relation_without_keys_has_no_key_audit() -> None:
    assert key_audits("keyed_observations", ()) == ()


# --- the model-specific rules, each over a relation with good rows and the rows breaking it

DAY = date(2018, 6, 1)

#: Per rule: the relation's columns, its good rows, and the rows that break the rule.
BROKEN: dict[str, tuple[str, list[Row], list[Row]]] = {
    "keyed_observations.keyed": (
        "account_key varchar, run_id varchar",
        [("x:1", "r1"), ("x:@apple", "r2")],
        [(None, "r3")],
    ),
    "daily_followers.counted": (
        "account_key varchar, day date, followers bigint",
        [("x:1", DAY, 5), ("x:2", DAY, 0)],
        [("x:3", DAY, None)],
    ),
    "brand_daily.included_within_expected": (
        "brand varchar, platform varchar, day date, accounts_included bigint, "
        "accounts_expected bigint",
        [("A", "x", DAY, 2, 3), ("C", "all", DAY, 3, 3)],
        [("B", "x", DAY, 4, 3)],
    ),
    # Handles that compare equal on their platform (X: any case; YouTube ids: exact case).
    "account_handles.one_row_per_handle_key": (
        "account_key varchar, platform varchar, handle varchar",
        [
            ("x:2", "x", "apple"),
            ("youtube:UCa", "youtube", "UCabc"),
            ("youtube:UCa", "youtube", "UCABC"),
        ],
        [("x:1", "x", "Apple"), ("x:1", "x", "@apple")],
    ),
    # Two keys for one id; unresolved accounts (no id) and other platforms' ids are fine.
    "accounts.resolved_id_unique": (
        "account_key varchar, platform varchar, account_id varchar",
        [
            ("x:@a", "x", None),
            ("x:@b", "x", None),
            ("bluesky:1", "bluesky", "1"),
            ("x:2", "x", "2"),
        ],
        [("x:1", "x", "1"), ("x:@one", "x", "1")],
    ),
    # A run's shards and another run's records are fine; a shard (or a run before shards,
    # shard null) recorded twice is not.
    "run_log.one_per_shard": (
        "run_id varchar, platform varchar, shard integer",
        [("r1", "x", 0), ("r1", "x", 1), ("r1", "bluesky", 0), ("r0", "x", None)],
        [("r2", "x", 1), ("r2", "x", 1), ("r3", "x", None), ("r3", "x", None)],
    ),
}


def test_every_rule_has_a_broken_relation() -> None:
    assert set(BROKEN) == {audit.name for audit in RULES}


@pytest.mark.parametrize("audit", RULES, ids=lambda audit: audit.name)
def test_each_rule_returns_exactly_the_rows_that_break_it(
    connection: duckdb.DuckDBPyConnection, audit: Audit
) -> None:
    columns, good, bad = BROKEN[audit.name]
    create(connection, audit.relation, columns, good)
    assert audit_failures(connection, [audit]) == {}
    connection.executemany(
        f"insert into {quote_name(audit.relation)} values ({', '.join('?' for _ in bad[0])})",
        bad,
    )
    assert returned(connection, audit.sql) == Counter(bad)


# --- the declared grain: real columns, every model, and what the README says


def test_every_model_declares_keys_that_are_its_columns() -> None:
    # keyed_observations has one row per observation, and observations have no key.
    assert [model.name for model in ALL_MODELS if not model.keys] == ["keyed_observations"]
    session = ModelSession(threads=1)
    try:
        session.bind_everything_empty()
        for model in VIEWS:
            session.bind_sql(model.name, model.sql)
        for name, keys in GRAINS.items():
            columns = session.connection.sql(f"select * from {quote_name(name)}").columns
            assert set(keys) <= set(columns), name
        # Every audit's SQL runs (macros included), and nothing is broken when nothing is there.
        assert audit_failures(session.connection, ALL_AUDITS) == {}
    finally:
        session.close()


def readme_grains() -> dict[str, tuple[str, ...]]:
    """Each warehouse/README.md section's stated key columns: the `Keys:` list of its
    `- Grain:` line if it has one, else the columns of its `one row per (…)`."""
    text = (REPO / "warehouse/README.md").read_text(encoding="utf-8")
    found = {}
    for section in text.split("\n## ")[1:]:
        title, body = section.split("\n", 1)
        grain = re.search(r"^- Grain: (.*?)(?=\n- |\n\n|\Z)", body, re.M | re.S)
        if grain is None:
            continue
        line = " ".join(grain.group(1).split())
        keys = re.search(r"Keys: (.*?)(?:[.;]|$)", line)
        if keys:
            stated = keys.group(1)
        else:
            after = line.split("one row per ", 1)[1]
            stated = after.split(")")[0] if after.startswith("(") else after.split()[0]
        found[title] = tuple(re.findall(r"`([a-z_]+)`", stated))
    return found


def test_the_readme_states_the_declared_grain_of_every_published_relation() -> None:
    stated = readme_grains()
    published = [model.name for model in DAILY + SNAPSHOT + VIEWS] + [s.name for s in SEEDS]
    assert {name: stated.get(name) for name in published} == {
        name: GRAINS[name] for name in published
    }


# --- handle_key: the SQL macro agrees with the Python normaliser over every platform's handles

#: Every written form the readers accept, from a canonical handle.
#: Each platform's handle syntax, from its spec.
HANDLE_PATTERNS = {spec.name: spec.handle_pattern for spec in registry.SPECS}
#: How a person might write a handle of each platform (a new platform needs its forms here).
WRITTEN_FORMS = {
    "x": ["{}", "@{}", "https://x.com/{}", "twitter.com/{}/"],
    "bluesky": ["{}", "@{}", "https://bsky.app/profile/{}"],
    "mastodon": ["{}", "@{}"],
    "youtube": ["{}", "https://www.youtube.com/{}"],
    "instagram": ["{}", "@{}", "https://www.instagram.com/{}/"],
    "facebook": ["{}", "@{}", "https://www.facebook.com/{}"],
    "threads": ["{}", "@{}", "https://www.threads.net/@{}", "threads.com/@{}"],
    "twitch": ["{}", "@{}", "https://www.twitch.tv/{}", "twitch.tv/{}/"],
}


@st.composite
def handles(draw: st.DrawFn) -> tuple[str, str]:
    """A platform and a handle of its syntax, as a person might write it."""
    platform = draw(st.sampled_from(sorted(HANDLE_PATTERNS)))
    canonical = draw(st.from_regex(HANDLE_PATTERNS[platform], fullmatch=True))
    form = draw(st.sampled_from(WRITTEN_FORMS[platform]))
    if platform == "youtube" and form != "{}" and not canonical.startswith("@"):
        form = "https://www.youtube.com/channel/{}"
    if "%" in canonical:  # a DID's '%' would be read as an escape in a link
        form = "{}"
    if platform == "facebook" and canonical.isdigit() and form != "{}":
        form = "https://www.facebook.com/profile.php?id={}"
    if platform == "facebook" and canonical.lower() == "profile.php":
        form = "{}"
    return platform, form.format(canonical)


@pytest.fixture(scope="module")
def macros() -> Iterator[duckdb.DuckDBPyConnection]:
    with connect(threads=1) as opened:
        yield opened


@settings(max_examples=300, deadline=None)
@given(handles())
def test_handle_key_equals_the_python_normaliser(
    macros: duckdb.DuckDBPyConnection, written: tuple[str, str]
) -> None:
    platform, text = written
    handle = read_handle(platform, text)
    key = normalize_handle(platform, handle)
    found = macros.execute(
        "select handle_key($platform, $handle)", {"platform": platform, "handle": handle}
    )
    assert found.fetchone() == (key,)
