"""What the warehouse has built so far: the lake files its marts reflect and its mart files.

Kept as one small JSON file (`WarehouseLayout.manifest`), replaced atomically. It is derived
data: deleting it (or `refresh --full`) rebuilds everything from the lake.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from followerledger import pause
from followerledger.lake import COMPACTED_AT, SUPERSEDES, Lake, LakeFile, is_compacted
from followerledger.layout import WarehouseLayout
from followerledger.leftovers import temporary_name

__all__ = [
    "STATE_VERSION",
    "BuildManifest",
    "ManifestStore",
    "replace_json",
]

STATE_VERSION: Final = 1


@dataclasses.dataclass
class BuildManifest:
    """The lake files reflected in the marts, and the files each mart consists of."""

    lake_files: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    marts: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    #: Compaction, as the lake's compacted files record it in their footers (a cache: a
    #: file missing here is read from its footer): each superseded key -> the compacted
    #: file holding its rows, and each compacted file -> when it was written (ISO time).
    superseded: dict[str, str] = dataclasses.field(default_factory=dict)
    compacted: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Mart files no published catalog names any more -> when they stopped being named;
    #: deleted after the reader grace period.
    retired: dict[str, str] = dataclasses.field(default_factory=dict)
    refreshed_at: str | None = None
    #: Digests of what the marts were computed from besides the lake (refresh.inputs_digest).
    inputs: dict[str, str] = dataclasses.field(default_factory=dict)

    def lake_view(self) -> BuildManifest:
        """An empty manifest that still knows which lake files compaction replaced (what a
        full refresh starts from)."""
        return BuildManifest(superseded=dict(self.superseded), compacted=dict(self.compacted))

    def record_compaction(self, key: str, written_at: str, supersedes: Iterable[str]) -> None:
        """Remember that the compacted file `key` holds the rows of `supersedes`.

        A file merged again is listed, with all it superseded, by the newer merge; so an
        original keeps the newer holder even when the older one is recorded after it."""
        self.compacted[key] = written_at
        newer = self.superseded.get(key)
        for original in supersedes:
            if newer is None or self.superseded.get(original) != newer:
                self.superseded[original] = key

    def current(self, lake: Lake, dataset: str) -> list[LakeFile]:
        """The dataset's files that hold its rows now: all of them, less the files that a
        compacted file present in the lake supersedes.

        The lake alone decides (a compacted file lists what it supersedes in its footer,
        and appears by an atomic rename), so readers see either the originals or the
        merged file, never both; a re-created original (the same CSV imported again) stays
        superseded; and this manifest is only a cache, learning unknown compacted files here.
        """
        files = lake.list(dataset)
        present = {item.key for item in files if is_compacted(item.key)}
        for key in sorted(present - self.compacted.keys()):
            footer = lake.footer(key)
            self.record_compaction(key, footer[COMPACTED_AT], json.loads(footer[SUPERSEDES]))
        return [item for item in files if self.superseded.get(item.key) not in present]

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON-serialisable mapping."""
        return {
            "version": STATE_VERSION,
            "lake_files": {key: list(value) for key, value in sorted(self.lake_files.items())},
            "marts": {name: sorted(files) for name, files in sorted(self.marts.items())},
            "superseded": dict(sorted(self.superseded.items())),
            "compacted": dict(sorted(self.compacted.items())),
            "retired": dict(sorted(self.retired.items())),
            "refreshed_at": self.refreshed_at,
            "inputs": dict(sorted(self.inputs.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BuildManifest:
        """Read a mapping written by `to_json`; an unknown version yields an empty state."""
        if data.get("version") != STATE_VERSION:
            return cls()
        return cls(
            lake_files={key: (int(v[0]), int(v[1])) for key, v in data["lake_files"].items()},
            marts={name: list(files) for name, files in data["marts"].items()},
            superseded=dict(data.get("superseded", {})),
            compacted=dict(data.get("compacted", {})),
            retired=dict(data.get("retired", {})),
            refreshed_at=data.get("refreshed_at"),
            inputs=dict(data.get("inputs", {})),
        )


def replace_json(path: Path, data: Any) -> None:
    """Write JSON to `path` atomically: readers see the old file or the new one, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(temporary_name(path.name))
    temporary.write_text(json.dumps(data, indent=1), encoding="utf-8")
    pause.point("state-rename")
    os.replace(temporary, path)


class ManifestStore:
    """Reads and writes the build manifest of a warehouse (its locks are `locks.hold`)."""

    def __init__(self, layout: WarehouseLayout) -> None:
        self.path = layout.manifest

    def load(self) -> BuildManifest:
        """The saved manifest, or an empty one when there is none (or it is unreadable)."""
        try:
            return BuildManifest.from_json(json.loads(self.path.read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError, KeyError, TypeError, IndexError):
            return BuildManifest()

    def save(self, state: BuildManifest) -> None:
        """Replace the manifest file (`_state/state.json`) atomically."""
        replace_json(self.path, state.to_json())
