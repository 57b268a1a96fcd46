"""Recovery points of a protected runbook: listed by the worker of each site, with the retention rule keeping each.

`listing` asks Temporal (a short `RecoveryPoints` workflow runs each machine's listing on the queue of the
site it replicates into); `annotate` is pure: it names, for every point, the rules of the runbook's
`recovery_points` that keep it, the way the local provider prunes.
"""

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from standby import client as temporal
from standby.config import Settings
from standby.contracts.programme import AppPointsInput, ListPointsInput, MachinePoints
from standby.contracts.protect import OwnerStatus
from standby.contracts.sites import PointsInput, machine_index, machine_refs, site_ref
from standby.durations import format_duration
from standby.plan import PlanError, select
from standby.retention import RetentionPolicy, keeping_rules
from standby.runbook import Runbook

# Each site answers within its own deadline (workflows/points.py); this bounds the whole listing.
LISTING_TIMEOUT = timedelta(minutes=2)


class PointRow(BaseModel):
    """One recovery point: its ID (what a provider launches), time, age, and the rules that keep it."""

    id: str
    time: datetime
    age_seconds: float
    kept_by: list[str]


class MachineRow(BaseModel):
    """One machine's points at the site it replicates into, oldest first."""

    app: str
    machine: str
    site: str
    points: list[PointRow] = []
    error: str | None = None


class PointsReport(BaseModel):
    """`standby points RUNBOOK --json`."""

    runbook: str
    generated: datetime
    retention: dict[str, str]
    machines: list[MachineRow]


async def listing(client: Client, settings: Settings, runbook_name: str, only: list[str] | None = None) -> PointsReport:
    """Every point of the runbook's machines (or of the apps `only` names), as their sites list them now."""
    runbook = await temporal.owner_runbook(client, runbook_name)
    status = await client.get_workflow_handle(temporal.owner_id(runbook_name)).query("status", result_type=OwnerStatus)
    try:
        apps = select(runbook, only)
    except PlanError as error:
        raise temporal.Refused(str(error).replace("--only", "--app")) from None
    index = machine_index(runbook)
    directions = {app: (status.truth.apps[app].source, status.truth.apps[app].target) for app in apps}
    machines = [AppPointsInput(app=app, points=PointsInput(
        source=site_ref(runbook, directions[app][0]), target=site_ref(runbook, directions[app][1]),
        machine=machine_refs(runbook, [machine], index)[0])) for app in apps for machine in runbook.apps[app].machines]
    listed: list[MachinePoints] = await client.execute_workflow(
        "RecoveryPoints", ListPointsInput(runbook=runbook_name, machines=machines),
        id=f"{temporal.owner_id(runbook_name)}/points", task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING, execution_timeout=LISTING_TIMEOUT,
        static_summary=f"list the recovery points of {runbook_name}", result_type=list[MachinePoints])
    return annotate(runbook, listed, datetime.now(UTC))


def annotate(runbook: Runbook, listed: list[MachinePoints], now: datetime) -> PointsReport:
    """The listing with each point's age and the retention rules that keep it ([]: pruned at the next pass)."""
    retention = runbook.protection.recovery_points
    policy = RetentionPolicy(**retention.model_dump())
    machines = []
    for machine in listed:
        rules = keeping_rules([p.time for p in machine.points], now, policy)
        machines.append(MachineRow(app=machine.app, machine=machine.machine, site=machine.site, error=machine.error,
                                   points=[PointRow(id=p.id, time=p.time, age_seconds=(now - p.time).total_seconds(),
                                                    kept_by=rules[p.time]) for p in machine.points]))
    names = ("every_pass_for", "every_10m_for", "hourly_for", "daily_for")
    windows = {name: format_duration(getattr(retention, name)) for name in names}
    return PointsReport(runbook=runbook.runbook, generated=now, retention=windows, machines=machines)


def rule_text(kept_by: list[str], retention: dict[str, str]) -> str:
    """`newest, 10-minute (for 1h)`, or what happens to a point no rule keeps."""
    windows = {"every pass": retention["every_pass_for"], "10-minute": retention["every_10m_for"],
               "hourly": retention["hourly_for"], "daily": retention["daily_for"]}
    named = [rule if rule == "newest" else f"{rule} (for {windows[rule]})" for rule in kept_by]
    return ", ".join(named) or "none: pruned at the next pass"
