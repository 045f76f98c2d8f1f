"""One configuration-error type: a bad setting and a missing platform setting are the same
`errors.ConfigError`, which the CLI turns into one line and exit code 2."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from followerledger import layout, settings, sources
from followerledger.cli import main
from followerledger.errors import ConfigError
from followerledger.run_outcome import CountedNothing
from followerledger.run_summary import PlatformSummary, RunSummary


def test_settings_and_sources_raise_the_one_configuration_error() -> None:
    assert layout.SettingsError is ConfigError
    assert settings.SettingsError is ConfigError
    assert sources.ConfigError is ConfigError
    with pytest.raises(ConfigError, match="X_BEARER_TOKEN is not set"):
        sources.require_config(settings.load_settings(x_bearer_token=None), ["x"])


def test_a_configuration_error_anywhere_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOLLOWERLEDGER_WAREHOUSE", "s3://bucket/w")
    result = CliRunner().invoke(main, ["refresh"])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "FOLLOWERLEDGER_WAREHOUSE" in result.output


def test_a_run_summary_survives_pickling_as_prefect_persists_it() -> None:
    summary = RunSummary(
        "r1",
        datetime(2026, 11, 10, 9, tzinfo=UTC),
        (PlatformSummary("x", {"error": 2}, requests=1, error_detail="HTTP 401"),),
    )
    assert pickle.loads(pickle.dumps(summary)) == summary  # noqa: S301 (our own bytes)
    failure = pickle.loads(pickle.dumps(CountedNothing(summary)))  # noqa: S301
    assert failure.result == summary
    assert str(failure) == "run r1 landed 2 rows but x counted nothing: HTTP 401"
