"""The one configuration-error type: a setting with a value it cannot take, or a setting a
chosen platform needs and lacks (`alerts.AlertConfigError`, for unusable alert destinations,
is one of them). The CLI turns it into one line and exit code 2.

Free of pydantic and of the rest of the package, so that the fast `query` path can raise it.
"""

from __future__ import annotations

__all__ = ["ConfigError"]


class ConfigError(ValueError):
    """A setting is wrong or missing; the message names the variable and what to do, never
    its value (it could be a secret)."""
