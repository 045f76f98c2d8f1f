"""Typed settings, read from the environment and an optional `.env` file."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import (
    AliasChoices,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
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

if TYPE_CHECKING:
    from followerledger.sources.platform import Credential

__all__ = [
    "CredentialValue",
    "Settings",
    "SettingsError",
    "load_settings",
    "parse_budgets",
    "parse_secret_list",
]


@dataclasses.dataclass(frozen=True, slots=True)
class CredentialValue:
    """One configured credential: its label (`X_BEARER_TOKEN`, `X_BEARER_TOKENS[2]`, or the
    Prefect Secret block it came from), never the value, and the secret."""

    label: str
    secret: SecretStr


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
    x_bearer_tokens: SecretStr | None = Field(
        None,
        validation_alias=_env("X_BEARER_TOKENS"),
        description="Further X bearer tokens (comma- or newline-separated, or a JSON list), "
        "each with a rate budget of its own.",
    )
    youtube_api_key: SecretStr | None = Field(None, validation_alias=_env("YOUTUBE_API_KEY"))
    youtube_api_keys: SecretStr | None = Field(
        None,
        validation_alias=_env("YOUTUBE_API_KEYS"),
        description="Further YouTube API keys (comma- or newline-separated, or a JSON list), "
        "each with a daily quota of its own.",
    )
    twitch_client_id: str | None = Field(
        None,
        validation_alias=_env("TWITCH_CLIENT_ID"),
        description="The client id of your Twitch app (sent as Client-Id on every call).",
    )
    twitch_client_secret: SecretStr | None = Field(
        None,
        validation_alias=_env("TWITCH_CLIENT_SECRET"),
        description="Your Twitch app's client secret, for app access tokens.",
    )
    twitch_access_token: SecretStr | None = Field(
        None,
        validation_alias=_env("TWITCH_ACCESS_TOKEN"),
        description="A Twitch access token of that client id, sent instead of app tokens.",
    )

    meta_access_token: SecretStr | None = Field(
        None,
        validation_alias=_env("META_ACCESS_TOKEN"),
        description="Facebook user (or system-user) access token read by Instagram and "
        "Facebook Pages.",
    )
    meta_access_tokens: SecretStr | None = Field(
        None,
        validation_alias=_env("META_ACCESS_TOKENS"),
        description="Further Meta access tokens (comma- or newline-separated, or a JSON "
        "list), each with a rate budget of its own.",
    )
    instagram_user_id: str | None = Field(
        None,
        validation_alias=_env("FOLLOWERLEDGER_INSTAGRAM_USER_ID"),
        description="Id of your own Instagram professional account, which every Business "
        "Discovery call goes through.",
    )
    threads_access_token: SecretStr | None = Field(
        None,
        validation_alias=_env("THREADS_ACCESS_TOKEN"),
        description="Threads user access token with threads_basic and threads_profile_discovery.",
    )
    threads_access_tokens: SecretStr | None = Field(
        None,
        validation_alias=_env("THREADS_ACCESS_TOKENS"),
        description="Further Threads access tokens (comma- or newline-separated, or a JSON "
        "list), each with 1,000 lookups per 24 hours of its own.",
    )

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
    graph_api_url: str = Field(
        registry.GRAPH_API_URL,
        validation_alias=_env("FOLLOWERLEDGER_GRAPH_API_URL"),
        description="Facebook Graph API base URL, with its version (Instagram and Facebook).",
    )
    threads_api_url: str = Field(
        registry.THREADS_API_URL,
        validation_alias=_env("FOLLOWERLEDGER_THREADS_API_URL"),
        description="Threads Graph API base URL, with its version.",
    )
    twitch_api_url: str = Field(
        "https://api.twitch.tv/helix", validation_alias=_env("FOLLOWERLEDGER_TWITCH_API_URL")
    )
    twitch_auth_url: str = Field(
        "https://id.twitch.tv/oauth2", validation_alias=_env("FOLLOWERLEDGER_TWITCH_AUTH_URL")
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

    #: Credentials read from Prefect Secret blocks (`secret_blocks`), per credential field:
    #: (block name, value), in block order. Not a setting: never read from the environment.
    _from_blocks: dict[str, tuple[tuple[str, SecretStr], ...]] = PrivateAttr(default_factory=dict)

    def with_block_credentials(self, found: Mapping[str, Sequence[tuple[str, str]]]) -> Settings:
        """A copy whose credentials named in `found` (field -> (block, value) in block order)
        come from those Prefect Secret blocks; the first also fills the singular field."""
        copy = self.model_copy(
            update={field: SecretStr(blocks[0][1]) for field, blocks in found.items() if blocks}
        )
        copy._from_blocks = {
            **self._from_blocks,
            **{
                field: tuple((block, SecretStr(value)) for block, value in blocks)
                for field, blocks in found.items()
                if blocks
            },
        }
        return copy

    def credentials(self, credential: Credential) -> list[CredentialValue]:
        """Every configured value of a platform's credential, labelled: the Secret blocks'
        when they supplied it, else the singular variable's, then the plural's entries
        (`X_BEARER_TOKENS[1]`, ... counted from 1 among the non-blank entries)."""
        blocks = self._from_blocks.get(credential.field)
        if blocks:
            return [CredentialValue(block, value) for block, value in blocks]
        values: list[CredentialValue] = []
        single = getattr(self, credential.field)
        if isinstance(single, SecretStr) and single.get_secret_value().strip():
            values.append(CredentialValue(credential.variable, single))
        plural = getattr(self, credential.plural_field) if credential.plural_field else None
        if isinstance(plural, SecretStr):
            for number, value in enumerate(parse_secret_list(plural.get_secret_value()), 1):
                label = f"{credential.plural_variable}[{number}]"
                values.append(CredentialValue(label, SecretStr(value)))
        return values

    @field_validator(
        "x_bearer_tokens", "youtube_api_keys", "meta_access_tokens", "threads_access_tokens"
    )
    @classmethod
    def _check_secret_list(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            return None
        entries = parse_secret_list(value.get_secret_value())
        credential = next(
            credential
            for spec in registry.SPECS
            for credential in spec.credentials
            if credential.plural_field == info.field_name
        )
        single = info.data.get(credential.field)
        if isinstance(single, SecretStr) and single.get_secret_value().strip() in entries:
            number = entries.index(single.get_secret_value().strip()) + 1
            raise ValueError(f"entry {number} repeats {credential.variable}")
        return value

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
        # and the alert URLs; and each credential of a list, and of the Secret blocks.
        values = (getattr(self, name) for name in type(self).model_fields)
        secrets = [value.get_secret_value() for value in values if isinstance(value, SecretStr)]
        for spec in registry.SPECS:
            for credential in spec.credentials:
                secrets += [
                    value.secret.get_secret_value() for value in self.credentials(credential)
                ]
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


def parse_secret_list(text: str) -> list[str]:
    """Secrets written as a JSON list of strings, or separated by commas or newlines; blank
    entries dropped, each stripped. ValueError names a repeated entry by its position among
    the non-blank ones, never by its value."""
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            loaded = json.loads(stripped)
        except ValueError:
            # Not the decoder's message: it quotes the text around the fault.
            raise ValueError(
                "is not a valid JSON list (or write the values comma-separated)"
            ) from None
        if not isinstance(loaded, list) or not all(isinstance(item, str) for item in loaded):
            raise ValueError("must be a JSON list of strings")
        written: list[str] = loaded
    else:
        written = re.split(r"[,\n]", stripped)
    entries = [entry.strip() for entry in written if entry.strip()]
    first: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        if entry in first:
            raise ValueError(f"entry {number} repeats entry {first[entry]}")
        first[entry] = number
    return entries


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
