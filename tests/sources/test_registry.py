"""The registry is the one list of platforms: nothing else in src/ writes the list out."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click

from followerledger.cli import PLATFORM_CHOICE
from followerledger.report.charts import PLATFORM_COLOURS
from followerledger.secret_blocks import SECRET_BLOCKS
from followerledger.settings import parse_budgets
from followerledger.sources import SUPPORTED_PLATFORMS
from followerledger.sources.registry import SPECS, names, platform
from followerledger.sources.throttle import POLICIES

SRC = Path(__file__).parents[2] / "src" / "followerledger"
NAMES = frozenset(names())


def _literal_names(node: ast.AST) -> set[str]:
    """The platform names written as string elements of a tuple, list or set display."""
    if not isinstance(node, ast.Tuple | ast.List | ast.Set):
        return set()
    return {
        element.value
        for element in node.elts
        if isinstance(element, ast.Constant) and element.value in NAMES
    }


def _alternation(text: str) -> set[str]:
    """The platform names a regex (or SQL list) writes as alternatives: `x|bluesky` or
    `'x', 'bluesky'`."""
    word = "|".join(re.escape(name) for name in NAMES)
    pairs = re.findall(rf"\b({word})\b\s*\|\s*\b({word})\b", text)
    pairs += re.findall(rf"'({word})'\s*,\s*'({word})'", text)
    return {name for pair in pairs for name in pair}


def platform_lists(path: Path) -> list[str]:
    """Each place in a Python or SQL file that writes two or more platform names as a list
    (tuple, list, set, Literal, click.Choice, regex alternation, SQL `in (...)`)."""
    text = path.read_text(encoding="utf-8")
    found: list[str] = []
    if path.suffix == ".sql":
        if len(_alternation(text)) >= 2:
            found.append(f"{path.name}: {sorted(_alternation(text))}")
        return found
    for node in ast.walk(ast.parse(text)):
        listed = _literal_names(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            listed = _alternation(node.value)
        if len(listed) >= 2:
            found.append(f"{path.name}:{getattr(node, 'lineno', '?')}: {sorted(listed)}")
    return found


def test_no_module_but_the_registry_writes_out_the_platforms() -> None:
    files = sorted(SRC.rglob("*.py")) + sorted(SRC.rglob("*.sql"))
    assert len(files) > 50  # the scan sees the whole package
    assert [place for path in files for place in platform_lists(path)] == []


def test_the_scan_finds_each_way_of_writing_the_list(tmp_path: Path) -> None:
    written = tmp_path / "copy.py"
    written.write_text(
        "from typing import Literal\n"
        'A = ("x", "bluesky")\n'
        'B = Literal["mastodon", "youtube"]\n'
        "C = click.Choice(['x', 'youtube'])\n"
        'D = re.compile(r"^(x|bluesky|mastodon)=")\n'
        'E = {"x", "mastodon"}\n'
    )
    sql = tmp_path / "copy.sql"
    sql.write_text("select * from t where platform in ('x', 'bluesky')\n")
    assert len(platform_lists(written)) == 5
    assert len(platform_lists(sql)) == 1


def test_everything_reads_the_one_list() -> None:
    assert names() == tuple(spec.name for spec in SPECS)
    assert len(set(names())) == len(SPECS)
    assert names() == SUPPORTED_PLATFORMS
    assert tuple(PLATFORM_CHOICE.choices) == names()
    assert isinstance(PLATFORM_CHOICE, click.Choice)
    assert tuple(POLICIES) == names()
    # A budget is named by its platform, but for one token shared by platforms (Meta's).
    shared = {"instagram": "meta", "facebook": "meta"}
    assert all(platform(name).policy.name == shared.get(name, name) for name in names())
    assert {block.field for block in SECRET_BLOCKS} == {
        credential.field for spec in SPECS for credential in spec.credentials
    } | {"alert_urls"}
    assert set(parse_budgets(",".join(f"{name}=1/1" for name in names()))) == set(names())
    assert set(names()) <= set(PLATFORM_COLOURS)


def test_each_credential_has_one_secret_block_and_the_meta_token_is_shared() -> None:
    blocks = [block.block for block in SECRET_BLOCKS]
    assert len(blocks) == len(set(blocks))
    assert platform("instagram").credentials == platform("facebook").credentials
    [meta] = platform("instagram").credentials
    assert (meta.variable, meta.plural_variable, meta.block) == (
        "META_ACCESS_TOKEN",
        "META_ACCESS_TOKENS",
        "followerledger-meta-access-token",
    )


def test_each_platform_names_its_emulator_and_reads_its_own_written_forms() -> None:
    for spec in SPECS:
        assert spec.emulator == f"followerledger.emulator.{spec.name}_api"
        assert spec.handle_rule
        assert spec.batch_size >= 1
        assert spec.policy.limit >= 1


def test_the_observation_layer_does_not_import_the_sources() -> None:
    tree = ast.parse((SRC / "observation.py").read_text(encoding="utf-8"))
    imported = [
        node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    ] + [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    ]
    assert imported
    assert not [name for name in imported if name.startswith("followerledger")]
