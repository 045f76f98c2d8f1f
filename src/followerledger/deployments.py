"""prefect.yaml's deployments: deploy them to a work pool, or serve them all from one process.

`prefect.yaml` is the one place schedules, parameters and concurrency limits are written:
`deploy` hands it to `prefect --no-prompt deploy --all`, and `serve` builds the same
deployments from it with `Flow.to_deployment`. Served deployments keep the same names, so
the two modes take turns on one set of schedules instead of running each one twice: while
`serve` runs, its process runs them; when it stops, Prefect pauses their schedules until
the next `serve` or `deploy`. (A worker polling at the same time is harmless: Prefect lets
only one process claim a flow run.) Served deployments keep `deploy`'s pull step (the
project folder), so a worker run after `serve` runs there too. Both modes then create or
update the crash-detection automations (`crash_detection`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import os
import subprocess
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from followerledger.crash_detection import ALERT_DEPLOYMENT, ensure_automations
from followerledger.prefect_server import PrefectServer, client_environment, prefect_command
from followerledger.settings import load_settings

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

PROJECT_FILE: Final = "prefect.yaml"
#: Deployed runs emit heartbeats this often (prefect.yaml sets it in each deployment's env).
HEARTBEAT_ENV: Final = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"
#: A missed heartbeat is not a crash: at least this much slack beyond one heartbeat period.
HEARTBEAT_SLACK: Final = 10
#: Entrypoints are written `flows/<module>.py:<flow>`; `flows/` links to this package.
FLOWS_PACKAGE: Final = "followerledger.flows"


class DeploymentError(RuntimeError):
    """Deployments cannot be read or created; the message says what to fix."""


@dataclasses.dataclass(frozen=True, slots=True)
class DeploymentSpec:
    """One deployment as prefect.yaml declares it."""

    name: str
    entrypoint: str
    description: str | None
    parameters: dict[str, Any]
    schedules: tuple[dict[str, Any], ...]
    concurrency_limit: dict[str, Any] | int | None
    work_pool: str | None
    tags: tuple[str, ...]
    job_variables: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def heartbeat_seconds(self) -> int | None:
        """The heartbeat frequency its worker runs get (job variables' env), if set."""
        value = (self.job_variables.get("env") or {}).get(HEARTBEAT_ENV)
        if value is None:
            return None
        try:
            seconds = int(value)
        except (TypeError, ValueError):
            seconds = 0
        # Prefect refuses a frequency under 30 s when the run starts: say so at deploy time.
        if seconds < 30:
            raise DeploymentError(
                f"{PROJECT_FILE}: deployment {self.name!r} sets {HEARTBEAT_ENV}={value!r}; "
                "write whole seconds, 30 or more"
            )
        return seconds

    @property
    def flow_module(self) -> str:
        """The module holding the flow (`flows/x.py` -> `followerledger.flows.x`)."""
        path, _, _ = self.entrypoint.partition(":")
        if not path.startswith("flows/") or not path.endswith(".py") or path.count("/") != 1:
            raise DeploymentError(
                f"{PROJECT_FILE}: deployment {self.name!r} has entrypoint {self.entrypoint!r}; "
                "write it as flows/<module>.py:<flow function>"
            )
        return f"{FLOWS_PACKAGE}.{path.removeprefix('flows/').removesuffix('.py')}"

    @property
    def flow_name(self) -> str:
        """The flow function's name in its module."""
        return self.entrypoint.partition(":")[2]

    def describe(self) -> str:
        """`name  cron (timezone)…`, or `on demand`."""
        when = ", ".join(
            f"{item['cron']} ({item.get('timezone', 'UTC')})"
            + ("" if item.get("active", True) else ", off")
            for item in self.schedules
        )
        return f"{self.name:<22} {when or 'on demand'}"


def read_project(project: Path) -> list[DeploymentSpec]:
    """The deployments declared in `<project>/prefect.yaml`."""
    path = project / PROJECT_FILE
    try:
        document = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DeploymentError(
            f"{path}: not found; run this from the followerledger folder (or pass --project)"
        ) from None
    except YAMLError as error:
        raise DeploymentError(f"{path}: invalid YAML: {error}") from None
    entries = (document or {}).get("deployments") or []
    specs = []
    for entry in entries:
        pool = entry.get("work_pool") or {}
        specs.append(
            DeploymentSpec(
                name=str(entry["name"]),
                entrypoint=str(entry["entrypoint"]),
                description=entry.get("description"),
                parameters=dict(entry.get("parameters") or {}),
                schedules=tuple(dict(item) for item in entry.get("schedules") or ()),
                concurrency_limit=entry.get("concurrency_limit"),
                work_pool=pool.get("name"),
                tags=tuple(entry.get("tags") or ()),
                job_variables=dict(pool.get("job_variables") or {}),
            )
        )
    if not specs:
        raise DeploymentError(f"{path}: declares no deployments")
    return specs


def _run(
    command: list[str],
    project: Path,
    environment: Mapping[str, str],
    harmless: str | None = None,
) -> str:
    """Run a Prefect CLI command; its output, or a DeploymentError with its last lines
    (unless the output contains `harmless`)."""
    finished = subprocess.run(
        command,
        cwd=project,
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = finished.stdout + finished.stderr
    if finished.returncode != 0 and (harmless is None or harmless not in output):
        last = " ".join(line.strip() for line in output.strip().splitlines()[-3:])
        raise DeploymentError(f"`{' '.join(command[1:])}` failed: {last}")
    return output


def deploy(project: Path, server: PrefectServer) -> list[DeploymentSpec]:
    """Create the work pools prefect.yaml names, then deploy every deployment in it."""
    specs = read_project(project)
    for spec in specs:
        spec.flow_module  # noqa: B018  (validates the entrypoint before anything is created)
    _crash_after(specs)
    # `{{ $PWD }}` in the pull step is resolved at deploy time from the environment.
    environment = {**client_environment(server.api_url), "PWD": str(project.resolve())}
    for pool in sorted({spec.work_pool for spec in specs if spec.work_pool}):
        _run(
            [prefect_command(), "work-pool", "create", pool, "--type", "process"],
            project,
            environment,
            harmless="already exists",
        )
    _run([prefect_command(), "--no-prompt", "deploy", "--all"], project, environment)
    _watch_for_crashes(server, specs)
    return specs


def _crash_after(specs: list[DeploymentSpec]) -> timedelta:
    """FOLLOWERLEDGER_CRASH_AFTER_SECONDS, checked against prefect.yaml's heartbeats."""
    seconds = load_settings().crash_after_seconds
    beats = [spec.heartbeat_seconds for spec in specs if spec.heartbeat_seconds is not None]
    if beats and seconds < max(beats) + HEARTBEAT_SLACK:
        raise DeploymentError(
            f"FOLLOWERLEDGER_CRASH_AFTER_SECONDS={seconds} would mark live runs Crashed: "
            f"{PROJECT_FILE} sets {HEARTBEAT_ENV}={max(beats)}; set it to at least "
            f"{max(beats) + HEARTBEAT_SLACK}"
        )
    return timedelta(seconds=seconds)


def _watch_for_crashes(server: PrefectServer, specs: list[DeploymentSpec]) -> None:
    """Create or update the crash-detection automations (`crash_detection`)."""
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    within = _crash_after(specs)
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            asyncio.run(ensure_automations(within))
    except ObjectNotFound:
        raise DeploymentError(
            f"{PROJECT_FILE}: no deployment {ALERT_DEPLOYMENT!r} (flows/crash_alert.py), which "
            "sends the alert for crashed runs: restore it from the followerledger repository"
        ) from None


def runner_deployments(project: Path) -> list[RunnerDeployment]:
    """prefect.yaml's deployments as served deployments (same names, schedules, limits)."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig
    from prefect.runner.storage import LocalStorage
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    served = []
    for spec in read_project(project):
        flow = getattr(importlib.import_module(spec.flow_module), spec.flow_name)
        limit = spec.concurrency_limit
        served.append(
            flow.to_deployment(
                name=spec.name,
                description=spec.description,
                parameters=spec.parameters,
                schedules=[
                    Cron(
                        item["cron"],
                        timezone=item.get("timezone", "UTC"),
                        active=bool(item.get("active", True)),
                    )
                    for item in spec.schedules
                ],
                concurrency_limit=ConcurrencyLimitConfig(**limit)
                if isinstance(limit, dict)
                else limit,
                tags=list(spec.tags),
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
        # Its pull step: a worker that picks up one of these runs later (after serve
        # stopped) runs it in this folder, as after `deploy`, not in a temporary one.
        served[-1].storage = LocalStorage(str(project.resolve()))
    return served


def serve(project: Path, server: PrefectServer, say: Callable[[str], None]) -> None:
    """Serve every deployment from this process until Ctrl-C (schedules pause on exit)."""
    from prefect import serve as prefect_serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    specs = read_project(project)
    beats = [spec.heartbeat_seconds for spec in specs if spec.heartbeat_seconds is not None]
    if beats:
        # The served runs' processes inherit it, as worker runs get it from prefect.yaml.
        os.environ[HEARTBEAT_ENV] = str(min(beats))
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        deployments = runner_deployments(project)
        # The alert automation names the alert deployment: it must exist before serve does.
        alert = next((d for d in deployments if d.name == ALERT_DEPLOYMENT), None)
        if alert is not None:
            alert.apply()
    _watch_for_crashes(server, specs)
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        for spec in specs:
            say(f"  {spec.describe()}")
        say(f"serving {len(deployments)} deployments; UI: {server.shown_ui_url}; Ctrl-C stops")
        prefect_serve(*deployments, print_starting_message=False)
