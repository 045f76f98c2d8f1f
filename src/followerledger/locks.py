"""The warehouse's inter-process locks, one file each under the layout's state folder."""

from __future__ import annotations

import contextlib
import logging
from typing import Final

from filelock import FileLock, Timeout

from followerledger import stopping
from followerledger.layout import WarehouseLayout

__all__ = [
    "hold",
]

#: Who holds each lock, as the wait for it is worded.
_HOLDERS: Final = {
    "refresh": "refresh, compaction or migration",
    "catalog": "catalog publication",
    "alerts": "alert delivery",
}
_logger = logging.getLogger(__name__)


def hold(layout: WarehouseLayout, name: str) -> contextlib.AbstractContextManager[None]:
    """An inter-process lock: `refresh` serialises refresh, compaction and migration, `catalog`
    serialises catalog publication, `alerts` serialises alert delivery. Waiting for it
    is said once at WARNING and ends with `stopping.Stopped` on SIGTERM or SIGINT."""
    path = layout.lock(name)
    path.parent.mkdir(parents=True, exist_ok=True)

    def waiting() -> None:
        holder = _HOLDERS.get(name, "process")
        _logger.warning("waiting for %s: another %s holds it", path, holder)

    return stopping.hold(FileLock(str(path)), Timeout, waiting)
