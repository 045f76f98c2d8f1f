"""Emulated Instagram Business Discovery: Graph calls on the caller's own IG user id with
`fields=business_discovery.username(<target>){…}` (the routes are `graph_api`'s, shared
with Facebook Pages; see its docstring for the answers and the choices made)."""

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

#: When the emulated accounts start growing (Instagram opened in October 2010).
GROWTH_START: Final = datetime(2010, 10, 6, tzinfo=UTC)
#: Business Discovery is Platform-rate-limited per user token over a rolling hour; 200 calls
#: per user per hour is the only figure the contract gives.
LIMIT: Final[tuple[int, int] | None] = (200, 3600)
#: Meta's windows roll (a call counts for an hour after it is made) ...
ROLLING: Final = True
#: ... and each token has its own.
PER_CREDENTIAL: Final = True


def account_id(original: str) -> str:
    """The IG user id of the account first watched as `original` (17 digits)."""
    return original if original.isdigit() else w.instagram_user_id(original)


def routes(state: EmulatorState) -> list[Route]:
    """The Graph routes (the same objects `facebook_api.routes` hands out)."""
    return graph_api.routes(state)


def fault_response(state: EmulatorState, request: Request, fault: Fault) -> Response | None:
    """Status faults in the Graph envelope (`is_transient` set); a rate-limit fault is
    code 4 with `X-App-Usage` at 100, HTTP 403."""
    return graph_api.fault_response(
        state, "instagram", fault, headers=graph_api.full_usage("instagram", fault)
    )
