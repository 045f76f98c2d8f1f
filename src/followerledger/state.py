"""What the warehouse has built so far: the lake files its marts reflect and its mart files.

Kept as one small JSON file under `<warehouse>/_state/`, replaced atomically. It is derived
data: deleting it (or `refresh --full`) rebuilds everything from the lake.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Final

from filelock import FileLock

STATE_VERSION: Final = 1


@dataclasses.dataclass
class WarehouseState:
    """The lake files reflected in the marts, and the files each mart consists of."""

    lake_files: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    marts: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    superseded: dict[str, str] = dataclasses.field(default_factory=dict)
    refreshed_at: str | None = None
    #: Digests of what the marts were computed from besides the lake (refresh.inputs_digest).
    inputs: dict[str, str] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The state as a JSON-serialisable mapping."""
        return {
            "version": STATE_VERSION,
            "lake_files": {key: list(value) for key, value in sorted(self.lake_files.items())},
            "marts": {name: sorted(files) for name, files in sorted(self.marts.items())},
            "superseded": dict(sorted(self.superseded.items())),
            "refreshed_at": self.refreshed_at,
            "inputs": dict(sorted(self.inputs.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WarehouseState:
        """Read a mapping written by `to_json`; an unknown version yields an empty state."""
        if data.get("version") != STATE_VERSION:
            return cls()
        return cls(
            lake_files={key: (int(v[0]), int(v[1])) for key, v in data["lake_files"].items()},
            marts={name: list(files) for name, files in data["marts"].items()},
            superseded=dict(data.get("superseded", {})),
            refreshed_at=data.get("refreshed_at"),
            inputs=dict(data.get("inputs", {})),
        )


class StateStore:
    """Reads and writes the state file and hands out the warehouse's locks."""

    def __init__(self, warehouse: Path) -> None:
        self.directory = warehouse / "_state"
        self.path = self.directory / "state.json"

    def load(self) -> WarehouseState:
        """The saved state, or an empty one when there is none (or it is unreadable)."""
        try:
            return WarehouseState.from_json(json.loads(self.path.read_text(encoding="utf-8")))
        except (FileNotFoundError, ValueError, KeyError, TypeError, IndexError):
            return WarehouseState()

    def save(self, state: WarehouseState) -> None:
        """Replace the state file atomically."""
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.directory / f".state.json.tmp-{os.getpid()}"
        temporary.write_text(json.dumps(state.to_json(), indent=1), encoding="utf-8")
        os.replace(temporary, self.path)

    def lock(self, name: str, timeout: float = -1) -> FileLock:
        """An inter-process lock: `refresh` serialises refresh and compaction, `catalog`
        serialises catalog publication."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.directory / f"{name}.lock"), timeout=timeout)
