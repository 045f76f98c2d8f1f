"""Watchlist: validation with file and line, and edits that keep comments."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from followerledger.cli import main
from followerledger.handles import HandleError, read_handle
from followerledger.sources.registry import names
from followerledger.watchlist import (
    WatchlistError,
    add_account,
    load_watchlist,
    normalize_handle,
    remove_account,
)

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "watchlist.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(path)
    return [str(problem) for problem in caught.value.problems]


def test_shipped_watchlist_holds_the_2008_accounts_and_a_landscape() -> None:
    watchlist = load_watchlist(REPO / "watchlist.yaml")
    dell_x = {a.handle for a in watchlist.accounts if a.brand == "Dell" and a.platform == "x"}
    assert dell_x >= {
        "DellOutlet",
        "DellSmBizOffers",
        "DellChannel",
        "Direct2Dell",
        "StudioDell",
        "IdeaStorm",
        "IdeaStormAction",
        "DellHomeOffers",
        "DellintheClouds",
        "DellYourBlog",
        "DellInsideIT",
        "TeamDell",
    }
    landscape = watchlist.landscapes["PC makers"]
    assert "Dell" in landscape
    assert len(landscape) >= 3


def test_valid_watchlist_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "brands:\n  Dell:\n    x: [DellOutlet, DellChannel]\n"
        "    youtube: ['@Dell']\n  HP:\n    x: [HP]\n"
        "landscapes:\n  PC makers: [Dell, HP]\n",
    )
    watchlist = load_watchlist(path)
    assert [(a.brand, a.platform, a.handle) for a in watchlist.accounts] == [
        ("Dell", "x", "DellOutlet"),
        ("Dell", "x", "DellChannel"),
        ("Dell", "youtube", "@Dell"),
        ("HP", "x", "HP"),
    ]
    assert watchlist.landscapes == {"PC makers": ("Dell", "HP")}
    assert watchlist.platforms == ("x", "youtube")


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "brands:\n  Dell:\n    x: [DellOutlet\n  HP:\n")
    [line] = problems(path)
    assert line.startswith(f"{path}:")
    assert "invalid YAML" in line
    assert int(line.split(":")[1]) in (4, 5)


def test_unknown_platform(tmp_path: Path) -> None:
    path = write(tmp_path, "brands:\n  Dell:\n    myspace: [dell]\n")
    assert problems(path) == [
        f"{path}:3: unknown platform 'myspace' under brand 'Dell': use one of {', '.join(names())}"
    ]
    assert names()[-1] == "twitch"


def test_handle_invalid_for_its_platform(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "brands:\n  Dell:\n    x:\n      - DellOutlet\n"
        "      - Dell-Outlet!\n      - ThisNameIsWayTooLong\n",
    )
    lines = problems(path)
    assert lines[0].startswith(f"{path}:5: invalid x handle 'Dell-Outlet!'")
    assert lines[1].startswith(f"{path}:6: invalid x handle 'ThisNameIsWayTooLong'")
    assert "1-15 letters, digits or underscores" in lines[0]


def test_handle_listed_twice_even_across_brands_and_case(tmp_path: Path) -> None:
    path = write(tmp_path, "brands:\n  Dell:\n    x: [DellOutlet]\n  Other:\n    x: [delloutlet]\n")
    assert problems(path) == [
        f"{path}:5: x handle 'delloutlet' is listed twice (first under 'Dell' on line 3); "
        "remove one"
    ]


def test_landscape_naming_unknown_brand(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "brands:\n  Dell:\n    x: [DellOutlet]\n"
        "landscapes:\n  PC makers:\n    - Dell\n    - Compaq\n",
    )
    assert problems(path) == [
        f"{path}:7: landscape 'PC makers' names unknown brand 'Compaq': "
        "add it under 'brands' or fix the spelling"
    ]


def test_every_problem_is_reported_once_per_line(tmp_path: Path) -> None:
    path = write(tmp_path, "brands:\n  Dell:\n    x: [Bad-One]\n    fax: [x]\nextra: 1\n")
    lines = problems(path)
    assert len(lines) == 3
    assert all(line.startswith(f"{path}:") and "\n" not in line for line in lines)


def test_missing_file(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope.yaml") == [
        f"{tmp_path / 'nope.yaml'}: file not found: create it or set FOLLOWERLEDGER_WATCHLIST"
    ]


@pytest.mark.parametrize(
    ("platform", "handle", "valid"),
    [
        ("bluesky", "dell.com", True),
        ("bluesky", "did:plc:z72i7hdynmk6r22z27h6tvur", True),
        ("bluesky", "dell", False),
        ("mastodon", "Gargron@mastodon.social", True),
        ("mastodon", "Gargron", False),
        ("youtube", "@Dell", True),
        ("youtube", "UCdZ5fjGMNb4_hXZY8ubEqmQ", True),
        ("youtube", "Dell!", False),
        ("twitch", "alienware", True),
        ("twitch", "Dell_Gaming_2", True),
        ("twitch", "abc", True),
        ("twitch", "ab", False),
        ("twitch", "_underscored", False),
        ("twitch", "dell-gaming", False),
        ("twitch", "a" * 25, True),
        ("twitch", "a" * 26, False),
    ],
)
def test_handle_rules_per_platform(tmp_path: Path, platform: str, handle: str, valid: bool) -> None:
    path = write(tmp_path, f"brands:\n  B:\n    {platform}: ['{handle}']\n")
    if valid:
        assert load_watchlist(path).accounts[0].handle == handle
    else:
        assert problems(path)[0].startswith(f"{path}:3: invalid {platform} handle")


def test_normalized_keys() -> None:
    assert normalize_handle("x", "DellOutlet") == "delloutlet"
    assert normalize_handle("mastodon", "@Gargron@Mastodon.Social") == "gargron@mastodon.social"
    assert normalize_handle("youtube", "UCdZ5fjGMNb4_hXZY8ubEqmQ") == "UCdZ5fjGMNb4_hXZY8ubEqmQ"
    assert normalize_handle("youtube", "@Dell") == "dell"


COMMENTED = """\
# Our brands. Keep this comment!
brands:
  Dell:  # the main brand
    x: [DellOutlet]
  HP:
    x:
      - HP  # printers
landscapes:
  PC makers: [Dell, HP]
"""


def test_add_keeps_comments_and_validates(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    add_account(path, "Dell", "x", "DellChannel")
    add_account(path, "Lenovo", "bluesky", "lenovo.com")
    text = path.read_text()
    assert "# Our brands. Keep this comment!" in text
    assert "# the main brand" in text
    assert "# printers" in text
    handles = [(a.brand, a.platform, a.handle) for a in load_watchlist(path).accounts]
    assert ("Dell", "x", "DellChannel") in handles
    assert ("Lenovo", "bluesky", "lenovo.com") in handles


def test_add_refuses_invalid_and_duplicate_without_touching_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    with pytest.raises(WatchlistError, match="invalid x handle"):
        add_account(path, "Dell", "x", "not valid!")
    with pytest.raises(WatchlistError, match="listed twice"):
        add_account(path, "HP", "x", "delloutlet")
    assert path.read_text() == COMMENTED


def test_remove_keeps_comments(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    add_account(path, "Dell", "x", "DellChannel")
    remove_account(path, "x", "dellchannel")
    assert "# printers" in path.read_text()
    assert [a.handle for a in load_watchlist(path).accounts] == ["DellOutlet", "HP"]
    with pytest.raises(WatchlistError, match="not listed"):
        remove_account(path, "x", "Nobody")


def test_remove_refuses_to_orphan_a_landscape_brand(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    with pytest.raises(WatchlistError, match="landscape 'PC makers'"):
        remove_account(path, "x", "HP")
    assert path.read_text() == COMMENTED


def test_cli_check_prints_one_line_per_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "brands:\n  Dell:\n    x: [Dell-Outlet]\n    fax: [x]\n")
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(path))
    result = CliRunner().invoke(main, ["watchlist", "check"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"followerledger: error: {path}:3: invalid x handle")
    assert lines[1].startswith(f"followerledger: error: {path}:4: unknown platform 'fax'")


def test_cli_edit_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, COMMENTED)
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(path))
    runner = CliRunner()
    assert runner.invoke(main, ["watchlist", "add", "Dell", "x", "TeamDell"]).exit_code == 0
    listing = runner.invoke(main, ["watchlist", "list"])
    assert "TeamDell" in listing.output
    assert "landscape PC makers: Dell, HP" in listing.output
    assert runner.invoke(main, ["watchlist", "remove", "x", "TeamDell"]).exit_code == 0
    assert "TeamDell" not in path.read_text()
    check = runner.invoke(main, ["watchlist", "check"])
    assert check.exit_code == 0
    assert "2 brands, 2 accounts, 1 landscapes" in check.output


@pytest.mark.parametrize("handle", ["on", "yes", "0x10", "1:20", "2008-07-01"])
def test_yaml_1_1_lookalikes_are_handles(tmp_path: Path, handle: str) -> None:
    # The fast loader (YAML 1.1) reads these as booleans, numbers or dates; the watchlist is
    # YAML 1.2, where they are text, and the round-trip reading decides.
    path = write(tmp_path, f"brands:\n  B:\n    x: [{handle}]\n")
    if handle in ("0x10", "2008-07-01"):  # a number and a date in YAML 1.2 too
        assert problems(path)[0].startswith(f"{path}:3: x handle ")
        assert problems(path)[0].endswith("must be text: put it in quotes")
    elif handle == "1:20":
        assert problems(path)[0].startswith(f"{path}:3: invalid x handle '1:20'")
    else:
        assert [a.handle for a in load_watchlist(path).accounts] == [handle]


def test_a_large_watchlist_loads(tmp_path: Path) -> None:
    lines = ["brands:"]
    for brand in range(200):
        lines += [
            f"  Brand{brand}:",
            "    x: [" + ", ".join(f"b{brand}x{i}" for i in range(50)) + "]",
        ]
    path = write(tmp_path, "\n".join(lines) + "\n")
    watchlist = load_watchlist(path)
    assert len(watchlist.accounts) == 10_000
    assert watchlist.accounts[-1].handle == "b199x49"


DID = "did:plc:z72i7hdynmk6r22z27h6tvur"
CHANNEL = "UCdZ5fjGMNb4_hXZY8ubEqmQ"


@pytest.mark.parametrize(
    ("platform", "written", "canonical"),
    [
        ("x", "@Apple", "Apple"),
        ("x", "https://x.com/Apple", "Apple"),
        ("x", "https://twitter.com/Apple", "Apple"),
        ("x", "x.com/Apple", "Apple"),
        ("x", "https://www.x.com/Apple/", "Apple"),
        ("x", "https://mobile.twitter.com/Apple?lang=en#top", "Apple"),
        ("x", "http://x.com/@Apple", "Apple"),
        ("bluesky", "@dell.com", "dell.com"),
        ("bluesky", "https://bsky.app/profile/dell.com", "dell.com"),
        ("bluesky", "bsky.app/profile/dell.com/", "dell.com"),
        ("bluesky", f"https://bsky.app/profile/{DID}", DID),
        ("mastodon", "@Gargron@mastodon.social", "Gargron@mastodon.social"),
        ("mastodon", "https://mastodon.social/@Gargron", "Gargron@mastodon.social"),
        ("mastodon", "https://mastodon.social/@Gargron/", "Gargron@mastodon.social"),
        ("mastodon", "https://fosstodon.org/@Gargron@mastodon.social", "Gargron@mastodon.social"),
        ("youtube", "Apple", "@Apple"),
        ("youtube", "https://www.youtube.com/@Apple", "@Apple"),
        ("youtube", "youtube.com/@Apple?si=abc", "@Apple"),
        ("youtube", f"https://www.youtube.com/channel/{CHANNEL}", CHANNEL),
        ("youtube", f"https://m.youtube.com/channel/{CHANNEL}/", CHANNEL),
        ("twitch", "@Alienware", "Alienware"),
        ("twitch", "https://www.twitch.tv/alienware", "alienware"),
        ("twitch", "twitch.tv/AsusROG/", "AsusROG"),
        ("twitch", "https://m.twitch.tv/lenovolegion", "lenovolegion"),
    ],
)
def test_written_forms_are_read_as_the_canonical_handle(
    tmp_path: Path, platform: str, written: str, canonical: str
) -> None:
    path = write(tmp_path, f"brands:\n  B:\n    {platform}: ['{written}']\n")
    watchlist = load_watchlist(path)
    assert [a.handle for a in watchlist.accounts] == [canonical]
    assert [str(note) for note in watchlist.notes] == [
        f"{path}:3: {platform} handle {written!r} read as {canonical!r}"
    ]
    assert read_handle(platform, written) == canonical


@pytest.mark.parametrize(
    ("platform", "handle"),
    [("x", "Apple"), ("bluesky", "dell.com"), ("bluesky", DID), ("youtube", "@Apple")],
)
def test_canonical_handles_carry_no_note(tmp_path: Path, platform: str, handle: str) -> None:
    path = write(tmp_path, f"brands:\n  B:\n    {platform}: ['{handle}']\n")
    watchlist = load_watchlist(path)
    assert [a.handle for a in watchlist.accounts] == [handle]
    assert watchlist.notes == ()


@pytest.mark.parametrize(
    ("platform", "written"),
    [
        ("x", "https://x.com/Apple/status/123"),
        ("x", "https://www.youtube.com/@Apple"),
        ("x", "https://x.com/"),
        ("x", "@"),
        ("bluesky", "https://bsky.app/search?q=dell"),
        ("bluesky", "https://bsky.app/profile/"),
        ("mastodon", "https://mastodon.social/about"),
        ("mastodon", "@Gargron"),
        ("youtube", "https://www.youtube.com/c/Apple"),
        ("youtube", "https://x.com/Apple"),
        ("youtube", "Apple Inc"),
        ("twitch", "https://www.twitch.tv/videos/123456"),
        ("twitch", "https://www.twitch.tv/alienware/about"),
        ("twitch", "https://www.youtube.com/@Apple"),
    ],
)
def test_links_that_name_no_account_are_refused(
    tmp_path: Path, platform: str, written: str
) -> None:
    path = write(tmp_path, f"brands:\n  B:\n    {platform}: ['{written}']\n")
    [line] = problems(path)
    assert line.startswith(f"{path}:3: invalid {platform} handle {written!r}: ")
    with pytest.raises(HandleError):
        read_handle(platform, written)


def test_two_forms_of_one_handle_are_listed_twice(tmp_path: Path) -> None:
    path = write(
        tmp_path, "brands:\n  Apple:\n    x: [Apple]\n  Other:\n    x: ['https://x.com/apple']\n"
    )
    assert problems(path) == [
        f"{path}:5: x handle 'https://x.com/apple' is listed twice "
        "(first under 'Apple' on line 3); remove one"
    ]


def test_a_large_watchlist_of_written_forms_keeps_its_lines(tmp_path: Path) -> None:
    lines = ["brands:"] + [f"  B{i}:\n    x: ['@b{i}']" for i in range(300)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    notes = [str(note) for note in load_watchlist(path).notes]
    assert len(notes) == 300
    assert notes[-1] == f"{path}:601: x handle '@b299' read as 'b299'"


def test_add_stores_the_canonical_handle(tmp_path: Path) -> None:
    path = write(tmp_path, COMMENTED)
    add_account(path, "Apple", "youtube", "https://www.youtube.com/@Apple")
    add_account(path, "Apple", "x", "@Apple")
    text = path.read_text()
    assert "youtube: ['@Apple']" in text
    assert "x: [Apple]" in text
    assert "https://" not in text
    with pytest.raises(WatchlistError, match="listed twice"):
        add_account(path, "Apple", "x", "https://x.com/apple")


def test_remove_accepts_any_written_form(tmp_path: Path) -> None:
    path = write(tmp_path, "brands:\n  Apple:\n    x: ['@Apple', Other]\n")
    remove_account(path, "x", "https://x.com/Apple")
    assert [a.handle for a in load_watchlist(path).accounts] == ["Other"]


def test_cli_check_notes_each_normalised_handle_and_leaves_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "brands:\n  Apple:\n    x: ['@Apple']\n    youtube: [Apple]\n"
    path = write(tmp_path, text)
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(path))
    result = CliRunner().invoke(main, ["watchlist", "check"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"followerledger: note: {path}:3: x handle '@Apple' read as 'Apple'",
        f"followerledger: note: {path}:4: youtube handle 'Apple' read as '@Apple'",
        f"{path}: OK — 1 brands, 2 accounts, 0 landscapes",
    ]
    assert path.read_text() == text


def test_cli_add_says_what_it_stored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, COMMENTED)
    monkeypatch.setenv("FOLLOWERLEDGER_WATCHLIST", str(path))
    runner = CliRunner()
    added = runner.invoke(
        main, ["watchlist", "add", "Dell", "bluesky", "https://bsky.app/profile/dell.com"]
    )
    assert added.exit_code == 0, added.output
    assert added.output.strip() == (
        "added bluesky dell.com to Dell (written as 'https://bsky.app/profile/dell.com')"
    )
    plain = runner.invoke(main, ["watchlist", "add", "Dell", "x", "TeamDell"])
    assert plain.output.strip() == "added x TeamDell to Dell"
    bad = runner.invoke(main, ["watchlist", "add", "Dell", "x", "https://x.com/a/status/1"])
    assert bad.exit_code == 2
    assert bad.output.startswith("followerledger: error: ")
    assert "invalid x handle 'https://x.com/a/status/1'" in bad.output
