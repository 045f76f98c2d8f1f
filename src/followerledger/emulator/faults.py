"""Switchable faults, so tests, the demo and benchmarks can make the emulator misbehave."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from typing import Literal

from followerledger.emulator.world import unit

FaultKind = Literal[
    "status", "rate_limit", "timeout", "malformed", "truncated", "latency", "quota", "partial"
]
FAULT_KINDS: tuple[FaultKind, ...] = (
    "status",
    "rate_limit",
    "timeout",
    "malformed",
    "truncated",
    "latency",
    "quota",
    "partial",
)


@dataclasses.dataclass
class Fault:
    """One fault on one platform's requests.

    kind: `status` answers `code` (default 503); `rate_limit` answers 429 with the platform's
    own headers, resetting in `seconds`; `timeout` waits `seconds` before answering;
    `malformed` answers 200 with a non-JSON body; `truncated` answers 200 with JSON cut short;
    `latency` adds `seconds` to every answer; `quota` answers YouTube's 403 quotaExceeded;
    `partial` leaves the later half of a Graph batch's entries `null`, as a batch that timed
    out part-way (other requests answer as usual).
    `times` is how many requests it hits (None: all). With `rate` (0 to 1) instead, it stays
    set and hits that share of the requests reaching it (those no earlier fault took), drawn
    from `seed`: the n-th asking of one request (its path and query) meets the same draw
    whatever else is asked in between, so concurrent runs stay reproducible.
    """

    platform: str
    kind: FaultKind
    times: int | None = 1
    code: int = 503
    seconds: float = 1.0
    rate: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}: use one of {FAULT_KINDS}")
        if self.rate is not None and not 0 <= self.rate <= 1:
            raise ValueError(f"fault rate {self.rate!r} is not between 0 and 1")


class Faults:
    """A thread-safe queue of faults, consumed by matching requests; `hits` counts the
    requests each kind of fault answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._asked: Counter[tuple[int, str, str]] = Counter()
        self.hits: Counter[FaultKind] = Counter()

    def add(self, fault: Fault) -> None:
        """Queue a fault."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Remove every fault (and forget the hits and draws)."""
        with self._lock:
            self._faults.clear()
            self._asked.clear()
            self.hits.clear()

    def take(self, platform: str, request: str = "") -> tuple[Fault | None, float]:
        """The fault for a request on `platform` (`request`: its path and query), and the
        latency to add."""
        with self._lock:
            latency = sum(
                f.seconds
                for f in self._faults
                if f.platform in (platform, "*") and f.kind == "latency"
            )
            for fault in self._faults:
                if fault.platform in (platform, "*") and fault.kind != "latency":
                    if fault.rate is not None:
                        if not self._draw(fault, fault.rate, platform, request):
                            continue
                    elif fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    self.hits[fault.kind] += 1
                    return fault, latency
            return None, latency

    def _draw(self, fault: Fault, rate: float, platform: str, request: str) -> bool:
        asked = (id(fault), platform, request)
        self._asked[asked] += 1
        draw = unit(fault.seed, fault.kind, fault.code, platform, request, self._asked[asked])
        return draw < rate
