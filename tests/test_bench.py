"""Every benchmark runs (`python -m bench --quick`); how fast is for `make bench` to say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.prefect
@pytest.mark.usefixtures("prefect_server")
def test_every_benchmark_runs_and_reports(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    environment = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--results", str(results)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = results.read_text()
    for title in (
        "Requests per 1,000 accounts",
        "Snapshot at scale",
        "The same snapshot on an S3 lake",
        "Landing: a run's rows to a committed Delta version",
        "Refresh",
        "Compaction",
        "`followerledger query` end to end",
        "Capacity",
    ):
        assert f"## {title}" in text
    for figure in (
        "requests per 1,000 x accounts",
        "peak RSS",
        "rows/s",
        "the old landing",
        "S3 lake (moto on 127.0.0.1)",
        "refresh --full",
        "refresh vs today",
        "a bare DuckDB query computing daily_followers",
        "costliest steps",
        "Prefect rows",
        "bytes per observation",
        "files per platform and closed day",
        "query end to end",
    ):
        assert figure in done.stdout, figure
