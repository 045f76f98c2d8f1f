"""The emulator's world: which accounts exist, their stable ids, and their follower trajectories.

Everything is a pure function of (platform, handle, time), so the demo's generated history,
the emulator's live answers and the tests all agree without sharing state.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import importlib
import math
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Final

from followerledger.sources import registry

#: The 2008 blog post is undated; we place its figures at mid-2008.
ANCHOR: Final = datetime(2008, 7, 1, tzinfo=UTC)


#: Follower counts the 2008 post gives (DellOutlet 1,516, DellSmBizOffers 151, DellChannel 71).
DELL_2008: Final = {"delloutlet": 1516, "dellsmbizoffers": 151, "dellchannel": 71}

#: Accounts the emulator reports as gone or suspended, to exercise those statuses in the demo.
DEFAULT_NOT_FOUND: Final = frozenset({("x", "dellyourblog"), ("x", "dellintheclouds")})
DEFAULT_SUSPENDED: Final = frozenset({("x", "ideastormaction")})


def unit(*parts: object) -> float:
    """A deterministic number in [0, 1) for the given parts."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _digest(*parts: object) -> bytes:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()


@dataclasses.dataclass(frozen=True, slots=True)
class Trajectory:
    """Followers over time: logistic growth from the anchor, a recent drift, weekly rhythm."""

    anchor: datetime
    start: float
    capacity: float
    rate: float
    drift: float
    phase: float
    seed: str

    def followers(self, at: datetime) -> int:
        """The follower count at a moment (deterministic, hourly noise included)."""
        years = (at - self.anchor).total_seconds() / (365.25 * 86400)
        if years <= 0:
            return round(self.start)
        ratio = self.capacity / self.start - 1
        logistic = self.capacity / (1 + ratio * math.exp(-self.rate * years))
        drift = max(0.2, 1 + self.drift * max(0.0, years - 3))
        days = years * 365.25
        weekly = 1 + 0.002 * math.sin(2 * math.pi * days / 7 + self.phase)
        hour = int(at.timestamp() // 3600)
        noise = 1 + 0.0004 * (unit(self.seed, hour) - 0.5)
        return max(0, round(logistic * drift * weekly * noise))


def trajectory(platform: str, handle: str) -> Trajectory:
    """The trajectory of one account; Dell's 2008 accounts start from the post's figures."""
    key = handle.lower().lstrip("@")
    seed = f"{platform}:{key}"
    start = float(DELL_2008.get(key, 40 + int(unit(seed, "start") * 4000)))
    capacity = start * 10 ** (1.5 + 1.5 * unit(seed, "capacity"))
    return Trajectory(
        anchor=_growth_start(platform),
        start=start,
        capacity=capacity,
        rate=0.4 + unit(seed, "rate"),
        drift=-0.03 + 0.09 * unit(seed, "drift"),
        phase=2 * math.pi * unit(seed, "phase"),
        seed=seed,
    )


def followers_at(platform: str, handle: str, at: datetime) -> int:
    """Followers of an emulated account at a moment."""
    return trajectory(platform, handle).followers(at)


def following_at(platform: str, handle: str, at: datetime) -> int:
    """Accounts followed: small and slowly growing."""
    base = 20 + unit(platform, handle.lower(), "following") * 900
    years = max(0.0, (at - ANCHOR).total_seconds() / (365.25 * 86400))
    return round(base * (1 + 0.05 * years))


def posts_at(platform: str, handle: str, at: datetime) -> int:
    """Posts published: a steady rate since the anchor."""
    per_day = 0.5 + unit(platform, handle.lower(), "posts") * 12
    days = max(0.0, (at - ANCHOR).total_seconds() / 86400)
    return round(per_day * days)


def x_user_id(handle: str) -> str:
    """A stable numeric X user id for a username."""
    return str(10_000_000 + int.from_bytes(_digest("x-id", handle.lower())[:8], "big") % 10**15)


def bluesky_did(handle: str) -> str:
    """A stable did:plc for a Bluesky handle."""
    raw = base64.b32encode(_digest("did", handle.lower())[:15]).decode().lower()
    return f"did:plc:{raw[:24]}"


def youtube_channel_id(handle: str) -> str:
    """A stable `UC…` channel id (24 characters) for a YouTube handle."""
    raw = base64.urlsafe_b64encode(_digest("yt", handle.lower())[:18]).decode()
    return "UC" + raw[:22]


def mastodon_id(address: str) -> str:
    """A stable instance-local numeric id for `user@instance`."""
    return str(int.from_bytes(_digest("mastodon", address.lower())[:7], "big"))


def instagram_user_id(username: str) -> str:
    """A stable Instagram user id (17 digits, `17841…` as Meta's professional accounts)."""
    number = int.from_bytes(_digest("ig", username.lower())[:8], "big") % 10**12
    return f"17841{number:012d}"


#: The emulator's own Instagram professional account, which Business Discovery is called on.
CALLER_USERNAME: Final = "followerledger.emulator"


def instagram_caller_id() -> str:
    """The id of the emulator's own Instagram professional account: the node Business
    Discovery is called on (FOLLOWERLEDGER_INSTAGRAM_USER_ID in `emulator_environment`)."""
    return instagram_user_id(CALLER_USERNAME)


def facebook_page_id(username: str) -> str:
    """A stable numeric Facebook Page id (15 digits, as recent Pages have)."""
    return str(10**14 + int.from_bytes(_digest("fb", username.lower())[:8], "big") % (9 * 10**14))


def account_id(platform: str, original: str) -> str:
    """The id the emulated platform gives an account (derived from its original handle)."""
    found: str = platform_api(platform).account_id(original)
    return found


@functools.cache
def _growth_start(platform: str) -> datetime:
    """When the platform's accounts start growing (ANCHOR for a platform not registered)."""
    if platform not in registry.names():
        return ANCHOR
    start: datetime = platform_api(platform).GROWTH_START
    return start


def platform_api(platform: str) -> ModuleType:
    """The emulator module of a platform (its spec's `emulator`): routes and world facts
    (`GROWTH_START`, `LIMIT`, `account_id`). Imported on first use: each imports this one."""
    return importlib.import_module(registry.platform(platform).emulator)


def round_subscribers(count: int) -> int:
    """YouTube's public rounding: three significant figures, rounded down, above 1,000."""
    if count < 1000:
        return count
    scale: int = 10 ** (len(str(count)) - 3)
    return count // scale * scale


def key_of(handle: str) -> str:
    """A handle as the world compares it (case-insensitive, no leading '@')."""
    return handle.lower().lstrip("@")


@dataclasses.dataclass(frozen=True, slots=True)
class Rename:
    """An account that took a new handle at a moment."""

    new_handle: str
    at: datetime


@dataclasses.dataclass(frozen=True, slots=True)
class EmulatedAccount:
    """An account as the platform shows it at one moment."""

    platform: str
    original: str
    handle: str
    state: str
    hidden: bool = False
    moved_to: str | None = None

    @property
    def id(self) -> str:
        """The platform's stable id for the account."""
        return account_id(self.platform, self.original)


def _default_renames() -> dict[tuple[str, str], Rename]:
    # StudioDell renamed itself DellStudio some weeks ago: one history, two handles.
    return {("x", "studiodell"): Rename("DellStudio", datetime.now(UTC) - timedelta(days=40))}


@dataclasses.dataclass
class World:
    """Which accounts exist and in what state. Every valid handle exists unless listed here.

    Name prefixes ask for a state in tests: `missing`/`gone` (not found), `suspended`,
    `deactivated`, `hidden` (count hidden), `moved` (Mastodon: moved to `<user>_new`),
    `personal` (Instagram: a personal, not a professional, account).
    """

    not_found: set[tuple[str, str]] = dataclasses.field(
        default_factory=lambda: set(DEFAULT_NOT_FOUND)
    )
    suspended: set[tuple[str, str]] = dataclasses.field(
        default_factory=lambda: set(DEFAULT_SUSPENDED)
    )
    deactivated: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    hidden: set[tuple[str, str]] = dataclasses.field(default_factory=lambda: {("youtube", "asus")})
    moved: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    renamed: dict[tuple[str, str], Rename] = dataclasses.field(default_factory=_default_renames)
    personal: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    mastodon_version: str = "4.3.2"

    def state(self, platform: str, handle: str) -> str:
        """'ok', 'not_found', 'suspended', 'deactivated' or (Instagram) 'personal' for an
        account's original handle."""
        key = (platform, key_of(handle))
        name = key[1]
        if key in self.not_found or name.startswith(("missing", "gone")):
            return "not_found"
        if platform == "instagram" and (key in self.personal or name.startswith("personal")):
            return "personal"
        if key in self.suspended or name.startswith("suspended"):
            return "suspended"
        if key in self.deactivated or name.startswith("deactivated"):
            return "deactivated"
        return "ok"

    def _account(self, platform: str, original: str, at: datetime) -> EmulatedAccount:
        key = (platform, key_of(original))
        rename = self.renamed.get(key)
        handle = rename.new_handle if rename and at >= rename.at else original
        moved_to = self.moved.get(key)
        if moved_to is None and key[1].startswith("moved"):
            user, _, instance = original.lstrip("@").partition("@")
            moved_to = f"{user}_new@{instance}"
        return EmulatedAccount(
            platform,
            original,
            handle,
            self.state(platform, original),
            hidden=key in self.hidden or key[1].startswith("hidden"),
            moved_to=moved_to,
        )

    def lookup(self, platform: str, handle: str, at: datetime) -> EmulatedAccount:
        """The account a handle names at a moment (a handle given up in a rename is gone)."""
        key = (platform, key_of(handle))
        rename = self.renamed.get(key)
        if rename and at >= rename.at:
            return EmulatedAccount(platform, handle, handle, "not_found")
        for (other_platform, old), later in self.renamed.items():
            if other_platform == platform and key_of(later.new_handle) == key[1]:
                if at < later.at:
                    return EmulatedAccount(platform, handle, handle, "not_found")
                return self._account(platform, old, at)
        return self._account(platform, handle, at)

    def by_original(self, platform: str, original: str, at: datetime) -> EmulatedAccount:
        """The account behind an id (ids derive from the original handle)."""
        return self._account(platform, original, at)
