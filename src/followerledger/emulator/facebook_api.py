"""Emulated Facebook Pages: `GET /v25.0/{page}?fields=…`, `?ids=` and batch requests (the
routes are `graph_api`'s, shared with Instagram; see its docstring for the answers and the
choices made)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from followerledger.emulator import graph_api
from followerledger.emulator import world as w
from followerledger.emulator.faults import Fault
from followerledger.emulator.memory import EmulatorState

#: When the emulated accounts start growing (Facebook Pages opened in November 2007).
GROWTH_START: Final = datetime(2007, 11, 6, tzinfo=UTC)
#: Page calls with a user token are Platform-rate-limited over a rolling hour (the source's
#: floor: 200 calls per user per hour).
LIMIT: Final[tuple[int, int] | None] = (200, 3600)
#: Meta's windows roll (a call counts for an hour after it is made) ...
ROLLING: Final = True
#: ... and each token has its own.
PER_CREDENTIAL: Final = True


def account_id(original: str) -> str:
    """The Page id of the Page first watched as `original` (a numeric id stays itself)."""
    return original if original.isdigit() else w.facebook_page_id(original)


def routes(state: EmulatorState) -> list[Route]:
    """The Graph routes (the same objects `instagram_api.routes` hands out)."""
    return graph_api.routes(state)


def fault_response(state: EmulatorState, request: Request, fault: Fault) -> Response | None:
    """Status faults in the Graph envelope; a rate-limit fault is the Pages throttle code
    (32, or 80001) with the usage headers at 100, HTTP 403."""
    return graph_api.fault_response(
        state, "facebook", fault, headers=graph_api.full_usage("facebook", fault)
    )
