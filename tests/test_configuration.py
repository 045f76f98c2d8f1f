"""Every setting is documented twice and nowhere else invented: the Settings table of
docs/configuration.md and `.env.example` name the same variables, and every `Settings` field
is among them."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices

from followerledger.settings import Settings

REPO = Path(__file__).parent.parent


def setting_names() -> set[str]:
    """Each `Settings` field's variable (its first, upper-case alias)."""
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices), name
        first = alias.choices[0]
        assert isinstance(first, str), name
        names.add(first)
    return names


def configuration_table() -> set[str]:
    """The variables in docs/configuration.md's Settings table."""
    text = (REPO / "docs/configuration.md").read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", section, flags=re.MULTILINE))


def env_example() -> dict[str, str]:
    """`.env.example`'s variables (commented out or not) and their example values."""
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    return dict(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=(.*)$", text, flags=re.MULTILINE))


def test_every_setting_is_in_the_configuration_table_and_env_example() -> None:
    documented = configuration_table()
    assert setting_names() <= documented
    assert set(env_example()) == documented


def test_env_example_sets_nothing_and_holds_no_secret() -> None:
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    # Copied to .env as it is, it changes nothing: every variable line is commented out.
    assert not re.findall(r"^[A-Z][A-Z0-9_]*=", text, flags=re.MULTILINE)
    examples = env_example()
    for name in ("X_BEARER_TOKEN", "YOUTUBE_API_KEY", "FOLLOWERLEDGER_ALERT_URLS"):
        assert examples[name] == "", name
