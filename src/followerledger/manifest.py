"""What the warehouse has built so far: the lake files its marts reflect and its mart files.

Kept as one small JSON file (`WarehouseLayout.manifest`), replaced atomically. It is derived
data: deleting it (or `refresh --full`) rebuilds everything from the lake.

The lake's files are the ones its Delta tables' log names (`DeltaLake.snapshot`), each by
its key relative to the lake root (`DeltaFile.key`); data files are never rewritten in
place, so a key stands for the same rows for as long as a version names it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from followerledger import pause
from followerledger.layout import WarehouseLayout
from followerledger.leftovers import temporary_name

if TYPE_CHECKING:
    from followerledger.delta_lake import DeltaFile

__all__ = [
    "STATE_VERSION",
    "BuildManifest",
    "ManifestStore",
    "replace_json",
]

#: 2: the lake is Delta tables (issue 14); a manifest of version 1 named run files, so it
#: reads as empty and the first refresh after the upgrade is full.
STATE_VERSION: Final = 2


@dataclasses.dataclass
class BuildManifest:
    """The lake files reflected in the marts, and the files each mart consists of."""

    #: Each lake data file the marts reflect (`DeltaFile.key`) -> (size in bytes, rows).
    lake_files: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    #: Each lake dataset -> the table version those files were read at.
    lake_versions: dict[str, int] = dataclasses.field(default_factory=dict)
    marts: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    #: Mart files no published catalog names any more -> when they stopped being named;
    #: deleted after the reader grace period.
    retired: dict[str, str] = dataclasses.field(default_factory=dict)
    refreshed_at: str | None = None
    #: Digests of what the marts were computed from besides the lake (refresh.inputs_digest).
    inputs: dict[str, str] = dataclasses.field(default_factory=dict)

    def reflects(self, file: DeltaFile) -> bool:
        """Whether the marts reflect this data file (the key, with the same size and rows)."""
        return self.lake_files.get(file.key) == (file.size, file.rows)

    def to_json(self) -> dict[str, Any]:
        """The manifest as a JSON-serialisable mapping."""
        return {
            "version": STATE_VERSION,
            "lake_files": {key: list(value) for key, value in sorted(self.lake_files.items())},
            "lake_versions": dict(sorted(self.lake_versions.items())),
            "marts": {name: sorted(files) for name, files in sorted(self.marts.items())},
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
            lake_versions={name: int(v) for name, v in data.get("lake_versions", {}).items()},
            marts={name: list(files) for name, files in data["marts"].items()},
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
