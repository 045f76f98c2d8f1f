"""The streaming reading (libyaml events straight into columns) answers only where it gives
exactly what the document readings give, and a large file is read without a document."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from followerledger.models.session import watchlist_tables
from followerledger.watchlist import WatchedAccount, Watchlist, WatchlistError, load_watchlist
from followerledger.watchlist import reading as watchlist_reading
from followerledger.watchlist.reading import _YAML_12_NOT_TEXT, _parse_checked
from followerledger.watchlist.streaming import read_streaming
from followerledger.watchlist.structure import FAST_LOADER
from followerledger.watchlist.validation import validate
from tests.test_watchlist_limits import PIECES

#: Handles as people write them: mostly canonical, sometimes with a note (`@Dell`), twice
#: under two spellings (`dell`), text YAML reads otherwise (`yes`, `123`, `1e3`), quoted.
TRICKY = st.sampled_from(
    ["dell", "@Dell", "'HP'", '"Acer"', "yes", "'123'", "123", "1e3", "'1e3'", "null",
     "[Nested]", "Ünï", "x" * 20, "did:plc:Abc"]
)  # fmt: skip
PLAIN = {
    "x": ["Dell", "HP", "Acer_1", "Dell_2", "ab"],
    "bluesky": ["dell.com", "hp.bsky.social", "a-b.example.org"],
    "youtube": ["'@Dell'", '"@HPsupport"', "UCabcdefghijklmnopqrstuv"],
}
PLATFORMS = st.sampled_from(["x", "x", "x", "bluesky", "bluesky", "youtube", "nowhere"])


def handles_of(platform: str) -> st.SearchStrategy[str]:
    plain = st.sampled_from(PLAIN.get(platform, ["Dell"]))
    return st.one_of(*[plain] * 12, TRICKY)


@st.composite
def watchlists(draw: st.DrawFn) -> str:
    """Watchlist text, mostly valid, in block and flow styles, with optional sections."""
    lines = ["brands:"]
    names = st.sampled_from(["Dell", "HP", "'Acer'", "Lenovo", "Asus", "yes"])
    brands = draw(st.lists(names, unique=True, min_size=1, max_size=4))
    for brand in brands:
        lines.append(f"  {brand}:")
        for platform in draw(st.lists(PLATFORMS, unique=True, min_size=1, max_size=3)):
            handles = draw(st.lists(handles_of(platform), max_size=3, unique=True))
            if not handles or draw(st.booleans()):
                lines.append(f"    {platform}: [{', '.join(handles)}]")
            elif len(handles) == 1 and draw(st.booleans()):
                lines.append(f"    {platform}: {handles[0]}")
            else:
                lines.append(f"    {platform}:")
                lines += [f"      - {handle}" for handle in handles]
    if draw(st.booleans()):
        known = [brand.strip("'") for brand in brands] or ["Nope"]
        members = draw(st.lists(st.sampled_from([*known * 5, "Nope"]), min_size=1))
        lines += ["landscapes:", f"  pcs: [{', '.join(members)}]"]
    if draw(st.booleans()):
        lines += [
            "alerts:",
            f"  drop_percent: {draw(st.sampled_from(['5', '12.5', 'null', 'x']))}",
            "  milestones: [1000, 5000]",
        ]
    return "\n".join(lines) + "\n"


def assert_streaming_agrees(text: str, path: Path) -> None:
    """When the streaming reading answers, the fast document reading and the round-trip one
    (the answer that counts) give the same watchlist (lines aside)."""
    streamed = read_streaming(text, path, _YAML_12_NOT_TEXT)
    if streamed is None:
        return
    document = validate(yaml.load(text, Loader=FAST_LOADER), path)  # noqa: S506
    assert streamed == document
    counted = _parse_checked(text, path)[1]
    assert [(a.brand, a.platform, a.handle) for a in streamed.accounts] == [
        (a.brand, a.platform, a.handle) for a in counted.accounts
    ]
    assert (streamed.landscapes, streamed.alerts, streamed.notes) == (
        counted.landscapes,
        counted.alerts,
        counted.notes,
    )
    assert streamed.brands == counted.brands
    assert streamed.platforms == counted.platforms


@settings(max_examples=300, deadline=None)
@given(text=watchlists())
def test_the_streaming_reading_agrees_on_watchlists(text: str) -> None:
    assert_streaming_agrees(text, Path("watchlist.yaml"))


@settings(max_examples=300, deadline=None)
@given(text=st.lists(PIECES, max_size=40).map("".join))
def test_the_streaming_reading_agrees_on_any_text(text: str) -> None:
    try:
        assert_streaming_agrees(text, Path("watchlist.yaml"))
    except WatchlistError:
        pass  # the document readings refuse it: then the streaming one must not answer
    else:
        return
    assert read_streaming(text, Path("watchlist.yaml"), _YAML_12_NOT_TEXT) is None


def big_watchlist(brands: int, per_brand: int = 50) -> str:
    lines = ["brands:"]
    for brand in range(brands):
        lines.append(f"  b{brand}:")
        lines.append(f"    x: [{', '.join(f'b{brand}x{i}' for i in range(per_brand // 2))}]")
        lines.append("    bluesky:")
        lines += [f"      - b{brand}-{i}.bsky.social" for i in range(per_brand // 2)]
    return "\n".join(lines) + "\n"


def test_a_large_plain_watchlist_is_streamed_into_columns(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(big_watchlist(400), encoding="utf-8")
    streamed = read_streaming(path.read_text(), path, _YAML_12_NOT_TEXT)
    assert streamed is not None
    assert len(streamed.accounts) == 20_000
    assert_streaming_agrees(path.read_text(), path)
    assert streamed.accounts[-1] == WatchedAccount("b399", "bluesky", "b399-24.bsky.social", None)
    accounts, _ = watchlist_tables(streamed)
    assert accounts.num_rows == 20_000
    assert accounts.slice(0, 2).to_pylist() == [
        {"brand": "b0", "platform": "x", "handle": "b0x0", "handle_key": "b0x0"},
        {"brand": "b0", "platform": "x", "handle": "b0x1", "handle_key": "b0x1"},
    ]
    again = pickle.loads(pickle.dumps(streamed))  # noqa: S301 (our own bytes)
    assert again == streamed
    assert list(again.accounts[:3]) == list(streamed.accounts)[:3]


def test_over_the_document_size_only_the_plain_valid_case_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(watchlist_reading, "MAX_DOCUMENT_BYTES", 1000)
    path = tmp_path / "watchlist.yaml"
    path.write_text(big_watchlist(4), encoding="utf-8")
    assert len(load_watchlist(path).accounts) == 200
    # One handle written with its '@' (a note, which names its line): the document is needed.
    path.write_text(big_watchlist(4).replace("b3x7,", "'@b3x7',"), encoding="utf-8")
    with pytest.raises(WatchlistError) as refused:
        load_watchlist(path)
    [line] = [str(problem) for problem in refused.value.problems]
    assert line.startswith(f"{path}: the file is ")
    assert "over 1,000 bytes is read only when every handle is valid" in line


def test_a_watchlist_given_accounts_keeps_them_as_columns(tmp_path: Path) -> None:
    given_accounts = (
        WatchedAccount("Dell", "x", "DellOutlet", 3),
        WatchedAccount("Dell", "bluesky", "dell.com", 4),
        WatchedAccount("HP", "x", "HP", None),
    )
    watchlist = Watchlist(tmp_path / "w.yaml", given_accounts, {})
    assert watchlist.accounts == given_accounts
    assert len(watchlist.accounts) == 3
    assert watchlist.accounts[-1] == given_accounts[-1]
    assert watchlist.accounts[1:] == given_accounts[1:]
    assert watchlist.brands == ("Dell", "HP")
    assert watchlist.platforms == ("x", "bluesky")
    assert watchlist.for_platform("x") == [given_accounts[0], given_accounts[2]]
    with pytest.raises(IndexError):
        watchlist.accounts[len(given_accounts)]


def test_count_is_the_length_of_for_platform_without_building_accounts(tmp_path: Path) -> None:
    path = tmp_path / "watchlist.yaml"
    path.write_text(
        "brands:\n  A:\n    x: [one, two]\n    bluesky: [one.bsky.social]\n  B:\n    x: [three]\n",
        encoding="utf-8",
    )
    watchlist = load_watchlist(path)
    for platform in ("x", "bluesky", "mastodon", "youtube"):
        assert watchlist.count(platform) == len(watchlist.for_platform(platform))
    assert watchlist.count("x") == 3
