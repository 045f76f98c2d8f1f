"""README's capacity section is what `python -m bench.capacity` prints (docs equal code), and
the figures it prints follow from the platforms' documented budgets."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench import capacity

from followerledger.sources import registry


def test_readme_capacity_section_is_what_the_command_prints() -> None:
    printed = "\n".join(capacity.measured_section())
    readme = capacity.README.read_text(encoding="utf-8")
    assert printed in readme, (
        "README.md's capacity section is stale: python -m bench.capacity --write"
    )


def test_accounts_per_hour_follow_the_documented_budgets() -> None:
    by_name = {item.platform: item for item in capacity.capacities()}
    assert set(by_name) == set(registry.names())
    # X documents 300 user lookups of 100 users per 15 minutes per app.
    assert by_name["x"].accounts_per_hour == pytest.approx(300 * 100 * 4)
    # Twitch reads one broadcaster's total per request: 800 points a minute.
    assert by_name["twitch"].accounts_per_hour == pytest.approx(800 * 60)
    for spec in registry.SPECS:
        item = by_name[spec.name]
        hourly_requests = spec.policy.limit * 3600 / spec.policy.per_seconds
        per_request = 1 if spec.name == "twitch" or spec.calls_counted else spec.batch_size
        assert item.accounts_per_request == per_request
        assert item.accounts_per_hour == pytest.approx(hourly_requests * per_request)
    # Meta counts each call of a Graph batch: 200 calls an hour read 200 accounts, not 10,000.
    assert by_name["instagram"].accounts_per_hour == pytest.approx(200)


def test_budget_holders_leave_the_headroom() -> None:
    x = next(item for item in capacity.capacities() if item.platform == "x")
    planned = x.accounts_per_hour * capacity.HEADROOM
    assert x.holders_for(0) == 1
    assert x.holders_for(int(planned)) == 1
    assert x.holders_for(int(planned) + 1) == 2
    assert x.holders_for(1_000_000) * planned >= 1_000_000
    assert (x.holders_for(1_000_000) - 1) * planned < 1_000_000


def test_a_credential_platform_is_held_by_its_variable_and_the_others_by_ip() -> None:
    for spec in registry.SPECS:
        holder = capacity.holder_of(spec)
        if spec.credentials:
            assert spec.credentials[0].variable in holder
        else:
            assert "IP address" in holder


def test_storage_is_measured_from_the_lake_files(tmp_path: Path) -> None:
    per_row = capacity.bytes_per_observation(tmp_path)
    files = list((tmp_path / "warehouse/lake/observations").rglob("*.parquet"))
    rows = capacity.STORAGE_ACCOUNTS * capacity.STORAGE_DAYS * 24
    assert per_row == pytest.approx(sum(path.stat().st_size for path in files) / rows)


def test_refresh_figures_are_read_from_the_results_file(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text(
        "# Benchmark results\n\n## Refresh: incremental vs full\n\n| figure | value |\n"
        "|---|---|\n| full_s_365d | 40.745 |\n| full_s_1825d | 1,240 |\n\n## Compaction\n\n"
        "| full_s_365d | 99 |\n"
    )
    assert capacity.refresh_figures(results) == {"full_s_365d": 40.745, "full_s_1825d": 1240.0}
    results.write_text("# Benchmark results\n\n## Compaction\n")
    with pytest.raises(SystemExit, match="no Refresh section"):
        capacity.refresh_figures(results)


def test_writing_replaces_only_the_section() -> None:
    readme = f"intro\n{capacity.BEGIN}\nold\n{capacity.END}\noutro\n"
    lines = [capacity.BEGIN, "new", capacity.END]
    assert (
        capacity.replaced(readme, lines) == f"intro\n{capacity.BEGIN}\nnew\n{capacity.END}\noutro\n"
    )
    with pytest.raises(SystemExit, match="no capacity section"):
        capacity.replaced("intro\n", lines)
