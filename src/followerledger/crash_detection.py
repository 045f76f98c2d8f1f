"""Dead runs are known to be dead: two Prefect automations for followerledger's flow runs.

A flow run whose process is killed (`kill -9`, a lost machine) cannot report its end: the
server keeps it `Running` and its `on_crashed` hook never runs. Deployed runs emit a
`prefect.flow-run.heartbeat` event every `PREFECT_FLOWS_HEARTBEAT_FREQUENCY` seconds
(prefect.yaml sets it for the worker's runs, `serve` for its own), and the server acts on
their absence (Prefect's "detect zombie flows" recipe):

- `followerledger: crash unresponsive runs` (proactive): a followerledger run with no
  heartbeat and no final state within `FOLLOWERLEDGER_CRASH_AFTER_SECONDS` of its last
  heartbeat is set to `Crashed`, which also frees its deployment's concurrency slot.
- `followerledger: alert on crashed runs` (reactive): any followerledger run that becomes
  `Crashed` (by the automation above, or by its worker seeing the process die) starts the
  `crashed-run-alert` deployment, which sends the failed-run alert. The alert ledger keys
  it by flow run id, so a crash the run's own hook already reported is not sent again.

`ensure_automations` creates both, or updates them in place (same names), so `deploy` and
`serve` can run any number of times.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Final
from uuid import UUID

if TYPE_CHECKING:
    from prefect.automations import AutomationCore

#: Every followerledger deployment but the alert's own carries this tag (prefect.yaml);
#: the automations watch only runs with it, never other projects' runs on the server.
TAG: Final = "followerledger"
CRASH_AUTOMATION: Final = "followerledger: crash unresponsive runs"
ALERT_AUTOMATION: Final = "followerledger: alert on crashed runs"
#: The deployment (prefect.yaml) the alert automation runs, and its flow's name.
ALERT_DEPLOYMENT: Final = "crashed-run-alert"
ALERT_FLOW: Final = "alert-crashed-run"
CRASH_MESSAGE: Final = "No heartbeat for {seconds} s: the run's process is gone (killed?)"


def _tagged() -> dict[str, str]:
    return {"prefect.resource.role": "tag", "prefect.resource.id": f"prefect.tag.{TAG}"}


def crash_automation(within: timedelta) -> AutomationCore:
    """Set a followerledger run Crashed when no heartbeat or final state follows its last
    heartbeat within `within`."""
    from prefect.automations import AutomationCore
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    final = ("Completed", "Failed", "Cancelled", "Crashed")
    return AutomationCore(
        name=CRASH_AUTOMATION,
        description="Marks followerledger flow runs whose heartbeats stopped as Crashed.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat", *(f"prefect.flow-run.{s}" for s in final)},
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            match_related=ResourceSpecification(_tagged()),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=within,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=CRASH_MESSAGE.format(seconds=int(within.total_seconds())),
            )
        ],
    )


def alert_automation(alert_deployment_id: UUID) -> AutomationCore:
    """Run the crashed-run-alert deployment for each followerledger run that crashes."""
    from prefect.automations import AutomationCore
    from prefect.events.actions import RunDeployment
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return AutomationCore(
        name=ALERT_AUTOMATION,
        description="Sends the failed-run alert for followerledger flow runs that crashed.",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Crashed"},
            match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
            match_related=ResourceSpecification(_tagged()),
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=alert_deployment_id,
                # The event's resource id: `prefect.flow-run.<id>`.
                parameters={"flow_run": "{{ event.resource.id }}"},
            )
        ],
    )


async def ensure_automations(within: timedelta) -> None:
    """Create both automations on the current Prefect server, or update them in place.

    Raises `prefect.exceptions.ObjectNotFound` when the crashed-run-alert deployment is not
    deployed yet.
    """
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        deployment = await client.read_deployment_by_name(f"{ALERT_FLOW}/{ALERT_DEPLOYMENT}")
        for automation in (crash_automation(within), alert_automation(deployment.id)):
            existing = await client.read_automations_by_name(automation.name)
            if existing:
                await client.update_automation(existing[0].id, automation)
                for duplicate in existing[1:]:
                    await client.delete_automation(duplicate.id)
            else:
                await client.create_automation(automation)


def flow_run_id(resource_id: str) -> UUID:
    """The flow run id in an event's resource id (`prefect.flow-run.<id>`, or a bare id)."""
    return UUID(resource_id.removeprefix("prefect.flow-run."))
