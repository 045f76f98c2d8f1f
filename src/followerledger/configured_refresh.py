"""The one refresh call the CLI, the flows and the demo share: the configured layout,
model parameters and reader grace period."""

from __future__ import annotations

from followerledger.refresh import RefreshReport, refresh
from followerledger.settings import Settings
from followerledger.watchlist import Watchlist


def refresh_configured(
    settings: Settings, watchlist: Watchlist | None, *, full: bool = False
) -> RefreshReport:
    """Refresh the marts (incrementally unless `full`) as `settings` configure it."""
    return refresh(
        settings.layout,
        watchlist,
        full=full,
        parameters=settings.refresh_parameters,
        grace=settings.reader_grace,
    )
