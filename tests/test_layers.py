"""Lower layers never import upper ones: each module's imports, read with `ast`, stay within the
layers its own layer may use (docs/ARCHITECTURE.md, "Layers")."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "followerledger"

#: Each layer: the modules in it (a name covers its submodules) and the layers it may import.
#: The warehouse side (marts, catalog, compaction, import) and the sources (HTTP clients) sit
#: side by side: neither imports the other; only a run and the orchestration use both.
LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "core": (
        (
            "followerledger",
            "clock",
            "observation",
            "urls",
            "pause",
            "stopping",
            "leftovers",
            "layout",
            "errors",
            "shards",
            "progress",
        ),
        (),
    ),
    "storage": (
        (
            "lake",
            "delta_lake",
            "delta_writer",
            "lake_filesystem",
            "manifest",
            "locks",
            "run_log",
            "run_summary",
            "run_outcome",
        ),
        ("core",),
    ),
    "sources": (("sources",), ("core", "storage", "platforms")),
    #: What is known of each platform, read by everything that handles handles or settings:
    #: the registry lists the sources, and a source reads its own spec back through it.
    "platforms": (("sources.registry", "handles"), ("core", "storage", "sources")),
    "inputs": (
        ("settings", "watchlist", "prefect_server", "secret_blocks"),
        ("core", "platforms"),
    ),
    "warehouse": (
        (
            "models",
            "sql",
            "refresh",
            "configured_refresh",
            "catalog",
            "compaction",
            "migration",
            "identity",
            "history_import",
            "run_changes",
            "run_costs",
            "query",
            "lake_as_of",
            "report",
        ),
        ("core", "storage", "inputs", "platforms"),
    ),
    "run": (
        ("run_plan", "landing", "emulator", "alerts", "artifacts"),
        ("core", "storage", "inputs", "platforms", "sources", "warehouse"),
    ),
    "orchestration": (
        (
            "tasks",
            "flows",
            "deployments",
            "crash_detection",
            "fanout",
            "demo",
            "cli",
            "live_progress",
        ),
        ("core", "storage", "inputs", "platforms", "sources", "warehouse", "run"),
    ),
}


def layer_of(module: str) -> str:
    """The layer of a module under `followerledger`: the longest listed name covering it."""
    inside = module.split(".")[1:] or ["followerledger"]
    best: tuple[int, str] | None = None
    for layer, (names, _) in LAYERS.items():
        for name in names:
            parts = name.split(".") if name != "followerledger" else []
            if inside[: len(parts)] == parts and (best is None or len(parts) > best[0]):
                best = (len(parts), layer)
    if best is None or (best[0] == 0 and inside != ["followerledger"]):
        raise AssertionError(f"{module} belongs to no layer: add it to LAYERS in {__file__}")
    return best[1]


def module_name(path: Path) -> str:
    """The dotted name of a source file under the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every `followerledger` module a source file imports, anywhere in it but under
    `if TYPE_CHECKING:` (a name for the type checker is not a dependency at run time)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and ast.unparse(node.test) in {"TYPE_CHECKING", "typing.TYPE_CHECKING"}
        for inner in ast.walk(node)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                # `from followerledger import pause` imports the module `followerledger.pause`.
                candidate = f"{base}.{alias.name}"
                place = PACKAGE.parent.joinpath(*candidate.split("."))
                is_module = place.with_suffix(".py").exists() or place.is_dir()
                found.add(candidate if is_module else base)
    return {name for name in found if name.split(".")[0] == "followerledger"}


def upward_imports() -> list[str]:
    """One line per import a module's layer may not make."""
    wrong: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        layer = layer_of(module)
        allowed = {layer, *LAYERS[layer][1]}
        for target in sorted(imported(path)):
            target_layer = layer_of(target)
            if target_layer not in allowed:
                wrong.append(f"{module} ({layer}) imports {target} ({target_layer})")
    return wrong


def test_no_layer_imports_one_it_may_not() -> None:
    assert upward_imports() == []


def test_every_module_has_a_layer_and_the_check_reads_its_imports() -> None:
    modules = {module_name(path) for path in PACKAGE.rglob("*.py")}
    assert {layer_of(module) for module in modules} == set(LAYERS)
    assert "followerledger.lake" in imported(PACKAGE / "landing.py")
    assert "followerledger.pause" in imported(PACKAGE / "lake.py")
