"""The watchlist parser never crashes and never drops an account: one reading for every
command, duplicate keys refused with both lines, limits on nesting, aliases, handles and size,
and one short line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from followerledger.cli import main
from followerledger.watchlist import (
    MAX_LINE,
    WatchlistError,
    add_account,
    load_watchlist,
    remove_account,
)
from followerledger.watchlist import reading as watchlist_reading
from tests.test_watchlist import problems as every_problem
from tests.test_watchlist import write

DUPLICATE_BRAND = """\
brands:
  Dell:
    x: [DellOutlet]
  HP:
    x: [HP]
  Dell:
    bluesky: [dell.com]
"""


def problems(path: Path) -> list[str]:
    """The problems `load_watchlist` finds, each checked to be one short line."""
    lines = every_problem(path)
    assert all(len(line) <= MAX_LINE and "\n" not in line for line in lines)
    return lines


def check_cli(path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(path))
    result = CliRunner().invoke(main, ["watchlist", "check"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.output.strip().splitlines()


def test_a_duplicate_brand_is_refused_with_both_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, DUPLICATE_BRAND)
    expected = f"{path}:6: 'Dell' appears twice (lines 2 and 6)"
    [line] = problems(path)
    assert line.startswith(expected)
    [printed] = check_cli(path, monkeypatch)
    assert printed.startswith(f"followerledger: error: {expected}")
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", str(tmp_path / "warehouse"))
    snapshot = CliRunner().invoke(main, ["snapshot"])
    assert snapshot.exit_code == 2
    assert snapshot.output.strip().splitlines() == [printed]
    with pytest.raises(WatchlistError) as caught:
        add_account(path, "Acer", "x", "Acer")
    assert str(caught.value).startswith(expected)
    assert path.read_text() == DUPLICATE_BRAND


def test_a_duplicate_platform_or_section_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "brands:\n  Dell:\n    x: [A]\n    x: [B]\n")
    assert problems(path)[0].startswith(f"{path}:4: 'x' appears twice (lines 3 and 4)")
    path = write(tmp_path, "brands:\n  Dell:\n    x: [A]\nbrands:\n  HP:\n    x: [B]\n")
    assert problems(path)[0].startswith(f"{path}:4: 'brands' appears twice (lines 1 and 4)")


@pytest.mark.parametrize(
    "text",
    [
        "brands: " + "[" * 5000 + "]" * 5000 + "\n",
        "brands: " + "{a: " * 3000 + "b" + "}" * 3000 + "\n",
        "".join(f"{'  ' * depth}k{depth}:\n" for depth in range(400)),
    ],
    ids=["lists", "mappings", "block"],
)
def test_deep_nesting_is_one_line_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    path = write(tmp_path, text)
    [line] = problems(path)
    assert "nested more than" in line
    assert len(check_cli(path, monkeypatch)) == 1


@pytest.mark.parametrize("member", ["[Dell, HP]", "{Dell: 1}", "[[Dell]]"])
def test_a_landscape_member_that_is_not_a_name(tmp_path: Path, member: str) -> None:
    text = f"brands:\n  Dell:\n    x: [Dell]\nlandscapes:\n  PCs:\n    - {member}\n"
    [line] = problems(write(tmp_path, text))
    assert line.startswith(f"{tmp_path / 'watchlist.yaml'}:6: landscape 'PCs' member ")
    assert "must be a brand name" in line


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        ("milestones", "[" + "9" * 400 + "]"),
        ("milestones", "[1e400]"),
        ("milestones", "[20000000000]"),
        ("stale_hours", "9" * 400),
        ("drop_percent", "1e400"),
    ],
)
def test_alert_numbers_beyond_range_are_one_line(tmp_path: Path, rule: str, value: str) -> None:
    text = f"brands:\n  Dell:\n    x: [Dell]\nalerts:\n  {rule}: {value}\n"
    [line] = problems(write(tmp_path, text))
    assert line.startswith(f"{tmp_path / 'watchlist.yaml'}:5: alerts.{rule} must be")


BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
brands:
  Dell:
    x: [*f]
landscapes:
  PCs: [*f]
"""


def test_an_alias_bomb_is_refused_in_one_short_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, BOMB)
    [line] = problems(path)
    assert "aliases" in line
    printed = check_cli(path, monkeypatch)
    assert len(printed) == 1
    assert len(printed[0]) < MAX_LINE + 40


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    text = "brands:\n  Dell:\n    x: &dell [DellOutlet]\nlandscapes:\n  PCs: &pcs [Dell]\n"
    assert load_watchlist(write(tmp_path, text)).landscapes == {"PCs": ("Dell",)}


def test_a_long_handle_is_one_short_line(tmp_path: Path) -> None:
    path = write(tmp_path, "brands:\n  Dell:\n    bluesky: [" + "a." * 50_000 + "com]\n")
    [line] = problems(path)
    assert line.startswith(f"{path}:3: invalid bluesky handle")
    assert "characters" in line


def test_long_values_in_problems_are_cut(tmp_path: Path) -> None:
    text = "brands:\n  Dell:\n    " + "z" * 1000 + ": [Dell]\n"
    [line] = problems(write(tmp_path, text))
    assert line.startswith(f"{tmp_path / 'watchlist.yaml'}:3: unknown platform 'zzz")


def test_a_file_beyond_the_size_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watchlist_reading, "MAX_FILE_BYTES", 1000)
    path = write(tmp_path, "brands:\n  Dell:\n    x: [" + ", ".join(["Dell"] * 300) + "]\n")
    [line] = problems(path)
    assert line.startswith(f"{path}: the file is ")
    assert "at most 1,000 bytes" in line
    with pytest.raises(WatchlistError, match="at most 1,000 bytes"):
        add_account(path, "Acer", "x", "Acer")


#: Pieces of YAML syntax, and of watchlists, to build text near the edge of both.
PIECES = st.sampled_from(
    [
        "brands:",
        "landscapes:",
        "alerts:",
        "milestones:",
        "stale_hours:",
        "drop_percent:",
        "failed_runs:",
        "Dell:",
        "x:",
        "bluesky:",
        "mastodon:",
        "youtube:",
        " ",
        "  ",
        "\n",
        "\n  ",
        "\n    ",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        "? ",
        "&a ",
        "*a",
        "&b ",
        "*b",
        "!!str ",
        "!!int ",
        "!!map ",
        "!!seq ",
        "!!binary ",
        "!!timestamp ",
        "!!float ",
        "!!python/object ",
        "<<: ",
        '"',
        "'",
        "#",
        "|",
        ">",
        "---",
        "...",
        "%YAML 1.2\n",
        "%TAG ! tag:x:\n",
        "Dell",
        "dell.com",
        "@Apple",
        "UC",
        "did:plc:",
        "1",
        "0x10",
        "1e400",
        "9" * 30,
        "-1",
        "null",
        "~",
        "yes",
        "on",
        "2008-07-01",
        "2008-13-45",
        "1:20",
        ".inf",
        ".nan",
        "\t",
        "\x00",
        "\ud800",
        "é",
        "\\u0000",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(PIECES, max_size=40).map("".join))
def test_any_text_loads_or_is_a_watchlist_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load_watchlist(path)
    except WatchlistError as error:
        lines = [str(problem) for problem in error.problems]
    else:
        return
    assert lines
    assert all(len(line) <= MAX_LINE and "\n" not in line for line in lines)


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "---\n"])
def test_add_to_an_empty_watchlist(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, text)
    added = add_account(path, "Dell", "x", "DellOutlet")
    assert [a.handle for a in added.accounts] == ["DellOutlet"]
    assert [a.handle for a in load_watchlist(path).accounts] == ["DellOutlet"]


def test_remove_from_an_empty_watchlist_says_it_is_not_listed(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing yet\n")
    with pytest.raises(WatchlistError, match="x handle 'Dell' is not listed"):
        remove_account(path, "x", "Dell")


@pytest.mark.parametrize("scalar", ["1e3", "0o17", "1.5e3", "+12", ".inf", "TRUE", "null"])
def test_every_command_reads_a_bare_number_alike(tmp_path: Path, scalar: str) -> None:
    """YAML 1.1 (the fast loader) reads `1e3` or `0o17` as text, YAML 1.2 (the round-trip
    reading `add` uses) as a number: check, snapshot and add must still agree."""
    path = write(tmp_path, f"brands:\n  Acme:\n    x: [acme, {scalar}]\n")
    with pytest.raises(WatchlistError) as loading:
        load_watchlist(path)
    with pytest.raises(WatchlistError) as adding:
        add_account(path, "Acme", "x", "other")
    assert [str(p) for p in loading.value.problems] == [str(p) for p in adding.value.problems]
    # Quoted, it is a handle (or refused as one) the same way everywhere.
    path = write(tmp_path, f'brands:\n  Acme:\n    x: [acme, "{scalar}"]\n')
    try:
        loaded: list[str] | None = [a.handle for a in load_watchlist(path).accounts]
    except WatchlistError:
        loaded = None
    try:
        added: list[str] | None = [
            a.handle
            for a in add_account(path, "Acme", "x", "other").accounts
            if a.handle != "other"
        ]
    except WatchlistError:
        added = None
    assert loaded == added
