"""Secrets from Prefect Secret blocks, for the ones the environment and `.env` leave unset.

A deployment's worker may have no `.env`: each secret can then live in a Prefect `Secret`
block of a fixed name on the server the flows report to. Blocks are read only when a Prefect
API is configured (`PREFECT_API_URL`, environment or Prefect profile), so that no command
starts a server just to look; a block that does not exist is simply not set. Values stay
`SecretStr` in `Settings`, so `Settings.redact` masks them like any other secret.

A platform credential may have several blocks, one per credential: `<block>`, `<block>-2`,
`<block>-3`, ... (`Credential.block_name`), read in order until the first missing one; each
is labelled by its block's name. A credential with one value only (`Credential.several`
false, as Twitch's) has its one block.

Prefect is imported inside the lookup only: commands that never read a block must not
cost a Prefect import.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Final

from pydantic import SecretStr

from followerledger.settings import Settings
from followerledger.sources import registry
from followerledger.urls import shown_url, without_url_secrets

if TYPE_CHECKING:
    from followerledger.sources.platform import Credential


@dataclasses.dataclass(frozen=True, slots=True)
class SecretBlock:
    """One secret setting: its `Settings` field, its variable and its block's name; a
    platform's credential (`credential`) may have several blocks, `<block>-2`, ..."""

    field: str
    variable: str
    block: str
    credential: Credential | None = None

    def block_name(self, index: int) -> str:
        """The name of this secret's block number `index` (counted from 0)."""
        return self.block if self.credential is None else self.credential.block_name(index)


#: The platforms' credentials (each spec's `credentials`), then the alert URLs.
SECRET_BLOCKS: Final = (
    *(
        SecretBlock(credential.field, credential.variable, credential.block, credential)
        # Once per credential: Instagram and Facebook share the Meta token.
        for credential in dict.fromkeys(
            credential for spec in registry.SPECS for credential in spec.credentials
        )
    ),
    SecretBlock("alert_urls", "FOLLOWERLEDGER_ALERT_URLS", "followerledger-alert-urls"),
)

#: The most blocks read for one credential (`<block>` to `<block>-64`).
MAX_BLOCKS: Final = 64

#: Seconds one block read may take; a server that does not answer is reported, not retried.
READ_TIMEOUT: Final = 5.0


class SecretBlockError(RuntimeError):
    """A secret's block cannot be read; the message names it, the server and what to do."""


def with_secret_blocks(settings: Settings, api_url: str | None = None) -> Settings:
    """The settings, with each secret they leave unset read from its Prefect Secret block.

    `api_url` is the Prefect API to ask (default: the configured one); without one the
    settings come back as they are. Raises SecretBlockError when the server cannot be read.
    """
    unset = [secret for secret in SECRET_BLOCKS if _unset(settings, secret)]
    if not unset:
        return settings
    if api_url is None:
        from followerledger.prefect_server import configured_api_url

        api_url = configured_api_url()
    if not api_url:
        return settings
    found = _read_blocks(api_url, unset)
    several = {secret.field for secret in unset if secret.credential is not None}
    settings = settings.with_block_credentials(
        {field: blocks for field, blocks in found.items() if field in several}
    )
    single = {field: blocks[0][1] for field, blocks in found.items() if field not in several}
    if not single:
        return settings
    return settings.model_copy(update={field: SecretStr(value) for field, value in single.items()})


def _unset(settings: Settings, secret: SecretBlock) -> bool:
    """Whether the environment and `.env` leave the secret unset (a credential: neither its
    singular nor its plural variable holds one, nor does any other credential of its
    platform: Twitch's access token and client secret stand in for each other)."""
    if secret.credential is not None:
        credential = secret.credential
        kin = [
            c for spec in registry.SPECS if credential in spec.credentials for c in spec.credentials
        ]
        return not any(settings.credentials(other) for other in kin or [credential])
    # A variable set to blanks (`X_BEARER_TOKEN=` in .env) holds no secret either.
    value = getattr(settings, secret.field)
    return value is None or not value.get_secret_value().strip()


def _read_blocks(api_url: str, secrets: list[SecretBlock]) -> dict[str, list[tuple[str, str]]]:
    """{field: [(block, value), ...]} for each secret whose block exists on the server at
    `api_url`; a credential's blocks in order, up to the first missing one."""
    import httpx
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound, PrefectException
    from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    found: dict[str, list[tuple[str, str]]] = {}
    secret = secrets[0]  # the one being read: a failure names it
    block = secret.block
    try:
        # One attempt with a short timeout: an unreachable server must not hold up the
        # command for Prefect's default retries.
        with (
            temporary_settings(updates={PREFECT_API_URL: api_url, PREFECT_CLIENT_MAX_RETRIES: 0}),
            get_client(sync_client=True, httpx_settings={"timeout": READ_TIMEOUT}) as client,
        ):
            for secret in secrets:
                several = secret.credential is not None and secret.credential.several
                for index in range(MAX_BLOCKS if several else 1):
                    block = secret.block_name(index)
                    try:
                        document = client.read_block_document_by_name(
                            block, Secret.get_block_type_slug(), include_secrets=True
                        )
                    except ObjectNotFound:
                        break
                    value = Secret.model_validate(document.data).get()
                    if not isinstance(value, str):
                        raise SecretBlockError(
                            f"Prefect Secret block {block!r} holds "
                            f"{type(value).__name__}, not text: save {secret.variable}'s "
                            "value as a string"
                        )
                    found.setdefault(secret.field, []).append((block, value))
    except (httpx.HTTPError, PrefectException, OSError) as error:
        # The reason is the error's type and first line: never a response body.
        # It may quote the URL (httpx does), so the URL's credentials are taken out of it.
        text = without_url_secrets(str(error), api_url).strip()
        reason = text.splitlines()[0] if text else ""
        raise SecretBlockError(
            f"{secret.variable} is not set and its Prefect Secret block {block!r} "
            f"cannot be read from PREFECT_API_URL={shown_url(api_url)}: {type(error).__name__}"
            f"{': ' + reason if reason else ''}; start that server, unset PREFECT_API_URL, "
            f"or set {secret.variable} in the environment or .env"
        ) from None
    return found
