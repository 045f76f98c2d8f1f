"""Switchable faults, so tests, the demo and benchmarks can make the emulator misbehave."""

from __future__ import annotations

import dataclasses
import threading
from typing import Literal

FaultKind = Literal["status", "rate_limit", "timeout", "malformed", "truncated", "latency", "quota"]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "status",
    "rate_limit",
    "timeout",
    "malformed",
    "truncated",
    "latency",
    "quota",
)


@dataclasses.dataclass
class Fault:
    """One fault on one platform's requests.

    kind: `status` answers `code` (default 503); `rate_limit` answers 429 with the platform's
    own headers, resetting in `seconds`; `timeout` waits `seconds` before answering;
    `malformed` answers 200 with a non-JSON body; `truncated` answers 200 with JSON cut short;
    `latency` adds `seconds` to every answer; `quota` answers YouTube's 403 quotaExceeded.
    `times` is how many requests it hits (None: all).
    """

    platform: str
    kind: FaultKind
    times: int | None = 1
    code: int = 503
    seconds: float = 1.0


class Faults:
    """A thread-safe queue of faults, consumed by matching requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        """Queue a fault."""
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}: use one of {FAULT_KINDS}")
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def take(self, platform: str) -> tuple[Fault | None, float]:
        """The next one-shot fault for a request on `platform`, and the latency to add."""
        with self._lock:
            latency = sum(
                f.seconds
                for f in self._faults
                if f.platform in (platform, "*") and f.kind == "latency"
            )
            for fault in self._faults:
                if fault.platform in (platform, "*") and fault.kind != "latency":
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault, latency
            return None, latency
