"""The package's surface: declared dependencies, typing marker, explicit public API."""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import re
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# Our own top-level packages: imports of these are not dependencies.
OWN = {"followerledger", "tests", "bench", "flows"}

# A PEP 508 requirement starts with the distribution's name.
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")

# The modules meant to be imported by other code (flows, notebooks, other packages): each says
# what it exports in `__all__`.
PUBLIC_MODULES = (
    "followerledger",
    "followerledger.catalog",
    "followerledger.compaction",
    "followerledger.delta_lake",
    "followerledger.delta_writer",
    "followerledger.emulator",
    "followerledger.errors",
    "followerledger.handles",
    "followerledger.history_import",
    "followerledger.lake",
    "followerledger.lake_filesystem",
    "followerledger.landing",
    "followerledger.layout",
    "followerledger.locks",
    "followerledger.manifest",
    "followerledger.models",
    "followerledger.observation",
    "followerledger.query",
    "followerledger.refresh",
    "followerledger.report",
    "followerledger.run_log",
    "followerledger.run_outcome",
    "followerledger.run_plan",
    "followerledger.run_summary",
    "followerledger.settings",
    "followerledger.sources",
    "followerledger.watchlist",
)


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


@functools.cache
def syntax_tree(path: Path) -> ast.Module:
    """A source file's syntax tree, parsed once per test process: the parametrized tests
    below read every file of the project, and the files do not change during a run."""
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imported_modules(folder: Path) -> Iterator[tuple[str, Path, int]]:
    """Each absolute import's top-level module under `folder`, with its file and line."""
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(syntax_tree(path)):
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


def names_imported_from(module: str) -> set[tuple[str, str]]:
    """Each name other code imports from `module` (`from module import name`), with where."""
    names = set()
    for folder in ("src", "flows", "tests", "bench"):
        for name_of, path, line, imported in imports_from(ROOT / folder):
            if name_of == module and not is_module_itself(path, module):
                names.add((imported, f"{path.relative_to(ROOT)}:{line}"))
    return names


def imports_from(folder: Path) -> Iterator[tuple[str, Path, int, str]]:
    """Each `from M import name` under `folder`: M, the file, the line and the name."""
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(syntax_tree(path)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    yield node.module, path, node.lineno, alias.name


def is_module_itself(path: Path, module: str) -> bool:
    """Whether `path` is the source of `module` or of a module inside it."""
    source = ROOT / "src" / Path(*module.split("."))
    return path.is_relative_to(source) or path == source.with_suffix(".py")


def is_submodule(package: ModuleType, name: str) -> bool:
    """Whether `name` is a module inside `package` (`from followerledger import lake`)."""
    return hasattr(package, "__path__") and (
        importlib.util.find_spec(f"{package.__name__}.{name}") is not None
    )


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_public_modules_declare_their_api(module: str) -> None:
    """Each public module lists its exports; every listed name exists, and other code imports
    from it only what it lists (or its submodules)."""
    imported = importlib.import_module(module)
    exported = getattr(imported, "__all__", None)
    assert exported is not None, f"{module} has no __all__"
    assert [name for name in exported if not hasattr(imported, name)] == []
    unlisted = sorted(
        f"{where}: {name}"
        for name, where in names_imported_from(module)
        if name not in exported and not is_submodule(imported, name)
    )
    assert unlisted == [], f"imported from {module} but not in its __all__"
