"""The outside readers and time travel of docs/querying.md, run as written there: each
Python snippet is taken from the page itself (so the page cannot drift) and run from a folder
whose `warehouse/lake` holds real Delta tables; each must count exactly the table's rows."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from deltalake import DeltaTable

from followerledger.delta_lake import OBSERVATIONS
from tests.delta_history import History, build_history

PAGE = Path(__file__).parent.parent / "docs" / "querying.md"
#: The time the time-travel snippets name, and the version they name.
SNIPPET_TIME = datetime(2026, 11, 20, 5, 30, tzinfo=UTC)
SNIPPET_VERSION = 3


def snippets(kind: str) -> dict[str, str]:
    """The page's Python blocks whose first line is `# <kind>: <name>`, by name."""
    text = PAGE.read_text(encoding="utf-8")
    found = {}
    for block in re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE):
        first, _, _ = block.partition("\n")
        if first.startswith(f"# {kind}: "):
            found[first.removeprefix(f"# {kind}: ")] = block
    return found


def run(snippet: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "snippet"}
    # The page's own code, run as a reader would paste it.
    exec(compile(snippet, str(PAGE), "exec"), namespace)  # noqa: S102
    return namespace


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> History:
    return build_history(tmp_path_factory.mktemp("outside"))


@pytest.fixture
def project(history: History, monkeypatch: pytest.MonkeyPatch) -> History:
    """The snippets' working folder: the one holding `warehouse/`."""
    monkeypatch.chdir(history.warehouse.parent)
    return history


def test_the_page_has_every_documented_reader() -> None:
    assert set(snippets("outside reader")) == {"Polars", "pyarrow", "DuckDB, offline"}
    assert set(snippets("time travel")) == {"Polars", "deltalake"}
    text = PAGE.read_text(encoding="utf-8")
    assert "install delta;\nload delta;\nselect count(*) from delta_scan(" in text


@pytest.mark.parametrize("name", sorted(snippets("outside reader")))
def test_each_outside_reader_counts_exactly_the_tables_rows(project: History, name: str) -> None:
    expected = DeltaTable(project.uri(OBSERVATIONS)).to_pyarrow_table().num_rows
    assert run(snippets("outside reader")[name])["rows"] == expected


def test_a_glob_over_the_table_folder_would_not(project: History) -> None:
    """Why the page says never to glob: the re-run left the rows it replaced on disk."""
    expected = DeltaTable(project.uri(OBSERVATIONS)).to_pyarrow_table().num_rows
    globbed = duckdb.execute(
        "select count(*) from read_parquet('warehouse/lake/observations/**/*.parquet')"
    ).fetchall()[0][0]
    assert globbed > expected


@pytest.mark.parametrize("name", sorted(snippets("time travel")))
def test_each_time_travel_snippet_reads_that_version(project: History, name: str) -> None:
    assert SNIPPET_VERSION in project.committed[OBSERVATIONS.name]
    in_effect = project.in_effect(OBSERVATIONS, SNIPPET_TIME)
    assert in_effect not in (None, SNIPPET_VERSION)  # so the two readings differ
    read = run(snippets("time travel")[name])
    assert read["rows_at_version"] == project.rows(OBSERVATIONS, SNIPPET_VERSION)
    assert read["rows_at_time"] == project.rows(OBSERVATIONS, in_effect)
    assert read["rows_at_version"] != read["rows_at_time"]
    if "versions" in read:
        listed = dict(read["versions"])
        assert sorted(listed) == sorted(project.committed[OBSERVATIONS.name])
