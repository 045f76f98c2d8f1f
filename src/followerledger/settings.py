"""Typed settings, read from the environment and an optional `.env` file."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from followerledger.layout import (
    DEFAULT_WAREHOUSE,
    ENV_FILE,
    LAKE_ENV,
    WAREHOUSE_ENV,
    WHERE_SET,
    SettingsError,
    WarehouseLayout,
    check_warehouse,
)
from followerledger.shards import parse_shards
from followerledger.sources import registry

__all__ = ["Settings", "SettingsError", "load_settings", "parse_budgets"]


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, name.lower())


class Settings(BaseSettings):
    """Everything followerledger can be configured with; see docs/configuration.md."""

    model_config = SettingsConfigDict(env_file=ENV_FILE, extra="ignore", populate_by_name=True)

    warehouse: Path = Field(DEFAULT_WAREHOUSE, validation_alias=_env(WAREHOUSE_ENV))
    watchlist: Path = Field(
        Path("watchlist.yaml"), validation_alias=_env("FOLLOWERLEDGER_WATCHLIST")
    )
    lake_uri: str | None = Field(
        None,
        validation_alias=_env(LAKE_ENV),
        description="Filesystem URI of the lake; default <warehouse>/lake.",
        # A remote lake's URI may carry credentials: never in the settings' repr.
        repr=False,
    )

    x_bearer_token: SecretStr | None = Field(None, validation_alias=_env("X_BEARER_TOKEN"))
    youtube_api_key: SecretStr | None = Field(None, validation_alias=_env("YOUTUBE_API_KEY"))

    x_api_url: str = Field("https://api.x.com", validation_alias=_env("FOLLOWERLEDGER_X_API_URL"))
    bluesky_api_url: str = Field(
        "https://public.api.bsky.app", validation_alias=_env("FOLLOWERLEDGER_BLUESKY_API_URL")
    )
    mastodon_api_url: str | None = Field(
        None, validation_alias=_env("FOLLOWERLEDGER_MASTODON_API_URL")
    )
    youtube_api_url: str = Field(
        "https://www.googleapis.com/youtube/v3",
        validation_alias=_env("FOLLOWERLEDGER_YOUTUBE_API_URL"),
    )

    http_timeout: float = Field(
        20.0,
        gt=0,
        validation_alias=_env("FOLLOWERLEDGER_HTTP_TIMEOUT"),
        description="Seconds to wait for one HTTP answer.",
    )
    http_attempts: int = Field(
        8,
        ge=1,
        validation_alias=_env("FOLLOWERLEDGER_HTTP_ATTEMPTS"),
        description="Tries per request before its accounts get `error` rows.",
    )
    max_rate_limit_wait: float = Field(
        900.0,
        ge=0,
        validation_alias=_env("FOLLOWERLEDGER_MAX_RATE_LIMIT_WAIT"),
        description="Longest wait for a rate-limit reset, in seconds, before giving up.",
    )
    fetch_concurrency: int = Field(
        4,
        ge=1,
        validation_alias=_env("FOLLOWERLEDGER_FETCH_CONCURRENCY"),
        description="Request batches in flight at once, per platform.",
    )

    shards: str | int = Field(
        "auto",
        validation_alias=_env("FOLLOWERLEDGER_SHARDS"),
        description="Shards a snapshot run is fetched and landed in (one Prefect task "
        "each): 'auto' (one per 25,000 accounts, 1 to 8) or a whole number.",
    )

    alert_urls: SecretStr | None = Field(
        None,
        validation_alias=_env("FOLLOWERLEDGER_ALERT_URLS"),
        description="Apprise URLs alerts go to (space- or comma-separated); alerts are off "
        "until set. Secret: a Slack or e-mail URL holds credentials.",
    )
    rate_budgets: str | None = Field(
        None,
        validation_alias=_env("FOLLOWERLEDGER_RATE_BUDGETS"),
        description="Request budgets replacing the documented ones, e.g. "
        "'x=10000/900,youtube=1000000/86400' (requests per seconds), for higher API tiers.",
    )
    reader_grace_hours: float = Field(
        24.0,
        ge=0,
        validation_alias=AliasChoices(
            "FOLLOWERLEDGER_READER_GRACE_HOURS",
            "followerledger_reader_grace_hours",
            "FOLLOWERLEDGER_COMPACTION_GRACE_HOURS",
            "followerledger_compaction_grace_hours",
        ),
        description="Hours files that a published catalog stops naming (compacted lake "
        "files' originals, older mart versions) stay on disk, so connections opened before "
        "keep working.",
    )

    @property
    def reader_grace(self) -> timedelta:
        """The reader grace period."""
        return timedelta(hours=self.reader_grace_hours)

    @field_validator("alert_urls", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `FOLLOWERLEDGER_ALERT_URLS=` keeps alerts off (and lets the demo override a `.env`).
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("shards", mode="before")
    @classmethod
    def _check_shards(cls, value: object) -> object:
        return parse_shards(value)

    @field_validator("warehouse", mode="before")
    @classmethod
    def _check_warehouse(cls, value: object) -> object:
        return check_warehouse(value) if isinstance(value, str) else value

    @field_validator("rate_budgets")
    @classmethod
    def _check_budgets(cls, value: str | None) -> str | None:
        if value is not None:
            parse_budgets(value)
        return value

    @property
    def budgets(self) -> dict[str, tuple[int, float]]:
        """Configured budgets: platform -> (requests, per seconds)."""
        return parse_budgets(self.rate_budgets) if self.rate_budgets else {}

    staleness_days: int = Field(
        2,
        ge=0,
        validation_alias=_env("FOLLOWERLEDGER_STALENESS_DAYS"),
        description="Days an account's latest count may be old and still stand in brand "
        "totals, leaderboards and projections.",
    )
    crash_after_seconds: int = Field(
        90,
        ge=40,
        validation_alias=_env("FOLLOWERLEDGER_CRASH_AFTER_SECONDS"),
        description="Seconds without a heartbeat after which the Prefect server marks a "
        "deployed run Crashed (set by deploy and serve; runs beat every 30 s).",
    )

    @property
    def refresh_parameters(self) -> dict[str, object]:
        """The model parameters that come from settings (see models.DEFAULT_PARAMETERS)."""
        return {"staleness_days": self.staleness_days}

    @property
    def layout(self) -> WarehouseLayout:
        """Every location under the warehouse, and the lake (default <warehouse>/lake)."""
        return WarehouseLayout.at(self.warehouse, self.lake_uri or None)

    def redact(self, text: str) -> str:
        """The text with every configured secret replaced by '***'."""
        # Every SecretStr field: the platforms' credentials (their specs' `credentials`)
        # and the alert URLs.
        values = (getattr(self, name) for name in type(self).model_fields)
        secrets = [value.get_secret_value() for value in values if isinstance(value, SecretStr)]
        if self.alert_urls is not None:
            secrets += re.split(r"[\s,]+", self.alert_urls.get_secret_value())
        # Longest first, so a URL list is masked whole before its parts.
        for value in sorted(filter(None, secrets), key=len, reverse=True):
            text = text.replace(value, "***")
        return text


_BUDGET = re.compile(r"^\s*([a-z]+)\s*=\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")


def parse_budgets(text: str) -> dict[str, tuple[int, float]]:
    """`x=300/900,youtube=10000/86400` as {platform: (requests, seconds)}; ValueError naming
    the bad entry by position otherwise."""
    budgets: dict[str, tuple[int, float]] = {}
    for number, entry in enumerate(filter(str.strip, text.split(",")), start=1):
        match = _BUDGET.match(entry)
        if (
            match is None
            or match.group(1) not in registry.names()
            or float(match.group(3)) <= 0
            or int(match.group(2)) <= 0
        ):
            # Named by position, not quoted: settings errors never echo a value.
            raise ValueError(f"entry {number} must read platform=requests/seconds, e.g. x=300/900")
        budgets[match.group(1)] = (int(match.group(2)), float(match.group(3)))
    return budgets


def _variable_names() -> dict[str, str]:
    """Field names and aliases, mapped to the environment variable as the docs spell it."""
    names: dict[str, str] = {}
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = [str(c) for c in alias.choices] if isinstance(alias, AliasChoices) else []
        names[field_name] = choices[0] if choices else field_name.upper()
        names.update({choice: choice.upper() for choice in choices})
    return names


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and `.env`), with explicit overrides on top.

    SettingsError names each bad variable and its rule in one line, never the value.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        names = _variable_names()
        problems = []
        for problem in error.errors(include_input=False, include_url=False):
            where = ".".join(str(part) for part in problem["loc"])
            cause = problem.get("ctx", {}).get("error")
            # A validator's own message, without pydantic's "Value error, " prefix.
            rule = str(cause) if isinstance(cause, ValueError) else problem["msg"]
            problems.append(f"{names.get(where, where)}: {rule}")
        raise SettingsError(f"{'; '.join(problems)} {WHERE_SET}") from None
