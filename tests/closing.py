"""A base for test helpers that own a process: `with` closes them on the way out."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class ClosedOnExit:
    """`with helper:` yields the helper and calls its `close()` however the block ends."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
