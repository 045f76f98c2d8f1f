"""The package's surface: declared dependencies, typing marker, explicit public API."""

from __future__ import annotations

import ast
import importlib
import re
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# Our own top-level packages: imports of these are not dependencies.
OWN = {"followerledger", "tests", "bench", "flows"}

# A PEP 508 requirement starts with the distribution's name.
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")

# Public modules and the names each exports in `__all__` (modules other engineers are moving
# in issue 13 — sources, watchlist, layout, refresh — get theirs when those moves land).
PUBLIC_API = {
    "followerledger": ["__version__"],
    "followerledger.query": ["QueryError", "ResultFormat", "format_result", "run_query"],
    "followerledger.lake": ["Lake", "LakeFile", "stage_path"],
    "followerledger.settings": [],
    "followerledger.models": [],
}


def normalised(name: str) -> str:
    """A distribution name in PEP 503 normal form (PyYAML -> pyyaml)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(*groups: str) -> set[str]:
    """Normalised names of the distributions in `dependencies` and the given dependency groups."""
    requirements: list[str] = list(PYPROJECT["project"]["dependencies"])
    for group in groups:
        requirements += PYPROJECT["dependency-groups"][group]
    names = set()
    for requirement in requirements:
        match = REQUIREMENT_NAME.match(requirement)
        assert match, f"pyproject.toml: cannot read the name in {requirement!r}"
        names.add(normalised(match.group(1)))
    return names


def imported_modules(folder: Path) -> Iterator[tuple[str, Path, int]]:
    """Each absolute import's top-level module under `folder`, with its file and line."""
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield alias.name.partition(".")[0], path, node.lineno
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield node.module.partition(".")[0], path, node.lineno


def undeclared_imports(folder: Path, allowed: set[str]) -> list[str]:
    """Third-party imports under `folder` whose distribution is not in `allowed`."""
    providers = packages_distributions()
    problems = []
    for module, path, line in imported_modules(folder):
        if module in OWN or module in sys.stdlib_module_names or module == "__future__":
            continue
        distributions = {normalised(name) for name in providers.get(module, [])}
        where = f"{path.relative_to(ROOT)}:{line}"
        if not distributions:
            problems.append(f"{where}: {module} is not installed by any distribution")
        elif not distributions & allowed:
            problems.append(f"{where}: {module} comes from {sorted(distributions)}, not declared")
    return problems


@pytest.mark.parametrize(
    ("folder", "groups"),
    [
        ("src", ()),
        ("flows", ()),
        ("tests", ("dev",)),
        ("bench", ("dev", "bench")),
    ],
)
def test_every_imported_distribution_is_declared(folder: str, groups: tuple[str, ...]) -> None:
    """A module imported directly is declared, not merely pulled in by another dependency."""
    assert undeclared_imports(ROOT / folder, declared(*groups)) == []


def test_the_wheel_ships_the_typing_marker() -> None:
    """`py.typed` sits in the package, which the wheel ships whole, so users' mypy reads it."""
    package = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    assert package == ["src/followerledger"]
    assert (ROOT / "src" / "followerledger" / "py.typed").is_file()


@pytest.mark.parametrize(("module", "names"), PUBLIC_API.items())
def test_public_modules_declare_their_api(module: str, names: list[str]) -> None:
    """Each public module lists what it exports, and every listed name exists."""
    imported = importlib.import_module(module)
    exported = getattr(imported, "__all__", None)
    assert exported is not None, f"{module} has no __all__"
    assert sorted(exported) == sorted(names)
    assert [name for name in exported if not hasattr(imported, name)] == []
