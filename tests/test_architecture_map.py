"""The map matches the land: docs/ARCHITECTURE.md names every module, package and `sql/`
folder of the package, and every package or test path it writes in backticks exists."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).parent.parent
PACKAGE = REPO / "src" / "followerledger"
MAP = REPO / "docs" / "ARCHITECTURE.md"


def written_paths(text: str) -> set[str]:
    """Every backticked path outside code blocks: `*.py`, `sql/...`, `src/...` or
    `tests/...`, less the patterns (`<platform>`, `*`)."""
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    spans = re.findall(r"`([^`\s]+)`", text)
    return {
        span
        for span in spans
        if (span.endswith(".py") or span.startswith(("sql/", "tests/", "src/")))
        and not re.search(r"[<>*]", span)
    }


def package_names() -> set[str]:
    """Each module as its path under the package, each package and `sql/` folder as `name/`."""
    modules = {str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")}
    folders = {
        f"{path.relative_to(PACKAGE)}/"
        for path in PACKAGE.rglob("*")
        if path.is_dir()
        and path.name != "__pycache__"
        and ((path / "__init__.py").exists() or path.parent == PACKAGE / "sql")
    }
    return modules | folders


def missing_from_map(text: str) -> list[str]:
    """The package's modules, packages and `sql/` folders the map does not name in backticks."""
    return sorted(name for name in package_names() if f"`{name}`" not in text)


def written_but_absent(text: str) -> list[str]:
    """The paths the map writes that name nothing: `tests/...` and `src/...` under the
    repository, every other one under the package."""
    return sorted(
        path
        for path in written_paths(text)
        if not (REPO / path if path.startswith(("tests/", "src/")) else PACKAGE / path).exists()
    )


def test_every_module_package_and_sql_folder_is_on_the_map() -> None:
    assert missing_from_map(MAP.read_text(encoding="utf-8")) == []


def test_every_path_on_the_map_exists() -> None:
    assert written_but_absent(MAP.read_text(encoding="utf-8")) == []


def test_the_checks_see_a_missing_row_and_a_missing_file() -> None:
    text = MAP.read_text(encoding="utf-8")
    without_row = "\n".join(line for line in text.splitlines() if "`clock.py`" not in line)
    assert missing_from_map(without_row) == ["clock.py"]
    assert written_but_absent(text + "\n`snapshot.py`, `sql/report/`, `tests/nowhere.py`\n") == [
        "snapshot.py",
        "sql/report/",
        "tests/nowhere.py",
    ]
