"""prefect.yaml as `deploy` and `serve` read it, without a Prefect server: served
deployments keep the project folder as their pull step, every watched deployment beats,
and a crash window shorter than a heartbeat is refused before anything is created."""

from __future__ import annotations

from pathlib import Path

import pytest

from followerledger.deployments import (
    DeploymentError,
    deploy,
    read_project,
    runner_deployments,
)
from followerledger.prefect_server import PrefectServer

REPO = Path(__file__).parent.parent


def test_served_deployments_keep_the_project_folder_as_their_pull_step() -> None:
    served = runner_deployments(REPO)
    assert sorted(d.name for d in served) == sorted(s.name for s in read_project(REPO))
    for deployment in served:
        assert deployment.storage is not None, deployment.name
        assert deployment.storage.to_pull_step() == {
            "prefect.deployments.steps.set_working_directory": {"directory": str(REPO.resolve())}
        }


def test_every_followerledger_deployment_beats_every_30_seconds() -> None:
    specs = read_project(REPO)
    watched = [spec for spec in specs if "followerledger" in spec.tags]
    assert len(watched) == 6
    assert {spec.name: spec.heartbeat_seconds for spec in watched} == dict.fromkeys(
        (spec.name for spec in watched), 30
    )
    (alert,) = [spec for spec in specs if spec.name == "crashed-run-alert"]
    assert "followerledger" not in alert.tags


def test_a_crash_window_shorter_than_a_heartbeat_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = (REPO / "prefect.yaml").read_text(encoding="utf-8")
    (tmp_path / "prefect.yaml").write_text(
        project.replace(
            'PREFECT_FLOWS_HEARTBEAT_FREQUENCY: "30"', 'PREFECT_FLOWS_HEARTBEAT_FREQUENCY: "60"'
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("FOLLOWERLEDGER_CRASH_AFTER_SECONDS", "65")
    # No server answers there: the check comes before anything is created.
    with pytest.raises(DeploymentError) as raised:
        deploy(tmp_path, PrefectServer("http://127.0.0.1:9/api"))
    assert str(raised.value) == (
        "FOLLOWERLEDGER_CRASH_AFTER_SECONDS=65 would mark live runs Crashed: prefect.yaml "
        "sets PREFECT_FLOWS_HEARTBEAT_FREQUENCY=60; set it to at least 70"
    )


@pytest.mark.parametrize("written", ["often", '"10"'])
def test_a_heartbeat_that_is_not_whole_seconds_is_one_line(tmp_path: Path, written: str) -> None:
    # Prefect itself refuses a frequency under 30 s, but only when a worker starts the run.
    project = (REPO / "prefect.yaml").read_text(encoding="utf-8")
    (tmp_path / "prefect.yaml").write_text(
        project.replace(
            'PREFECT_FLOWS_HEARTBEAT_FREQUENCY: "30"',
            f"PREFECT_FLOWS_HEARTBEAT_FREQUENCY: {written}",
        ),
        encoding="utf-8",
    )
    with pytest.raises(DeploymentError) as raised:
        deploy(tmp_path, PrefectServer("http://127.0.0.1:9/api"))
    assert str(raised.value) == (
        "prefect.yaml: deployment 'hourly-snapshot' sets "
        f"PREFECT_FLOWS_HEARTBEAT_FREQUENCY={written.strip(chr(34))!r}; "
        "write whole seconds, 30 or more"
    )
