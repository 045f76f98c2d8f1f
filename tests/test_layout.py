"""One warehouse layout: `layout.WarehouseLayout` is the only code that names what lives under
the warehouse, and it places everything exactly where it always was."""

from __future__ import annotations

import ast
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from followerledger.layout import WarehouseLayout
from followerledger.settings import load_settings

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "followerledger"
#: The names a warehouse holds (folders, files, and the suffix of its locks).
WAREHOUSE_NAMES = frozenset(
    {"_state", "marts", "lake", "followerledger.duckdb", "report.html", "state.json", "alerts.json"}
)
LOCK_SUFFIX = ".lock"
#: The names' constants (`layout.py` and, before it, other modules' copies of them).
NAME_CONSTANTS = frozenset(
    {
        "CATALOG_NAME",
        "REPORT_NAME",
        "HOME_NAME",
        "PREFECT_HOME_NAME",
        "LAKE_NAME",
        "MARTS_NAME",
        "STATE_NAME",
        "MANIFEST_NAME",
        "ALERTS_LEDGER_NAME",
    }
)
#: The lake's own commit lock lives under the lake root, not the warehouse: `Lake` owns it.
LAKE_INTERNAL = {("lake.py", f"/{LOCK_SUFFIX}")}


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string constants that are docstrings (prose, not paths)."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
    return found


def _joins(path: Path) -> Iterator[str]:
    """Each string in `path` that joins a warehouse name: a `/` operand, a `joinpath` or
    `os.path.join` argument, or a literal path with such a component."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    prose = _docstrings(tree)
    joined: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for operand in (node.left, node.right):
                joined.add(id(operand))
                if isinstance(operand, ast.JoinedStr):
                    joined.update(id(part) for part in operand.values)
                name = getattr(operand, "id", getattr(operand, "attr", None))
                if name in NAME_CONSTANTS:
                    yield name
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) in (
            "joinpath",
            "join",
            "with_name",
        ):
            joined.update(id(argument) for argument in node.args)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        # Docstrings are prose; `.sql` paths name the models shipped in the package's `sql/`.
        if id(node) in prose or node.value.endswith(".sql"):
            continue
        text = node.value
        parts = text.split("/")
        in_a_path = id(node) in joined or (len(parts) > 1 and "://" not in text)
        if not in_a_path:
            continue
        named = any(part in WAREHOUSE_NAMES or part.endswith(LOCK_SUFFIX) for part in parts)
        if named and (path.name, text) not in LAKE_INTERNAL:
            yield text


def test_nothing_outside_layout_joins_a_warehouse_name() -> None:
    offenders = {
        f"{path.relative_to(PACKAGE)}: {text!r}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "layout.py" or path.parent != PACKAGE
        for text in _joins(path)
    }
    assert offenders == set()


def test_the_guard_sees_a_join_under_the_warehouse(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'from pathlib import Path\n\n\ndef f(w: Path) -> Path:\n    """_state/x"""\n'
        '    return w / "_state" / f"{w.name}.lock" / "marts/x" / CATALOG_NAME\n',
        encoding="utf-8",
    )
    assert sorted(_joins(sample)) == [".lock", "CATALOG_NAME", "_state", "marts/x"]


def test_every_location_is_where_it_always_was(tmp_path: Path) -> None:
    layout = WarehouseLayout.at(tmp_path / "w")
    root = tmp_path / "w"
    assert layout.lake_uri == str(root / "lake")
    assert layout.lake_is_local
    assert layout.local_lake == root / "lake"
    assert layout.marts == root / "marts"
    assert layout.manifest == root / "_state" / "state.json"
    assert layout.alerts_ledger == root / "_state" / "alerts.json"
    assert layout.lock("refresh") == root / "_state" / "refresh.lock"
    assert layout.catalog == root / "followerledger.duckdb"
    assert layout.report == root / "report.html"
    assert layout.report_uri == (root / "report.html").resolve().as_uri()
    assert layout.prefect_home == root.resolve() / "_prefect"
    assert pickle.loads(pickle.dumps(layout)) == layout  # noqa: S301 (our own bytes)


def test_a_remote_lake_is_known_as_remote(tmp_path: Path) -> None:
    layout = WarehouseLayout.at(tmp_path, "s3://user:key@bucket/lake")
    assert not layout.lake_is_local
    with pytest.raises(ValueError, match="FOLLOWERLEDGER_LAKE") as raised:
        _ = layout.local_lake
    assert "key" not in str(raised.value)
    assert WarehouseLayout.at(tmp_path, f"file://{tmp_path}/l").local_lake == tmp_path / "l"


def test_settings_and_the_environment_give_one_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path / "w"))
    monkeypatch.setenv("FOLLOWERLEDGER_LAKE", str(tmp_path / "elsewhere"))
    assert WarehouseLayout.from_environment() == load_settings().layout
    assert load_settings().layout.lake_uri == str(tmp_path / "elsewhere")


def test_a_layout_and_settings_show_a_remote_lake_without_its_credentials(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    uri = "s3://AKIAEXAMPLEKEY:secret-access-key@bucket/lake?session_token=tok-123"
    monkeypatch.setenv("FOLLOWERLEDGER_LAKE", uri)
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path))
    layout = WarehouseLayout.at(tmp_path, uri)
    settings = load_settings()
    for shown in (repr(layout), str(layout), repr(settings), str(settings)):
        for secret in ("AKIAEXAMPLEKEY", "secret-access-key", "tok-123"):
            assert secret not in shown
    assert "s3://bucket/lake" in repr(layout)
    assert settings.layout.lake_uri == uri
