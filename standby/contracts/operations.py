"""Inputs, results and progress of the operation workflows and their children."""

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from standby.contracts.gates import GateRecord
from standby.contracts.pairs import FailoverEvidence
from standby.contracts.sites import RecoveryPoint, Target
from standby.contracts.state import DrillRecord
from standby.plan_steps import RecoverGroup
from standby.runbook import Runbook
from standby.runbook_base import empty


class OperationInput(BaseModel):
    """An operation as the runbook's owner starts it: the request, where it starts from, its epoch, the owner."""

    runbook: Runbook
    only: list[str] = []
    point: datetime | None = None
    force: bool = False
    yes: bool = False
    requested_by: str = ""
    keep_for: timedelta | None = None
    owner: str = Field("", description="the workflow ID of the runbook's owner, which the operation reports to")
    active: str = Field("", description="the site the operation starts from, as the owner's state machine says")
    epoch: int = Field(0, description="the fencing epoch of this operation")
    last_drill: DrillRecord | None = None
    gates: list[GateRecord] = Field([], description="the owner's records of the request, --force and --yes")
    lost: list[str] = Field([], description=(
        "sites whose lease ran out, by the protect monitor's heartbeats: stopping there is not waited for"))
    evidence: list[FailoverEvidence] = Field([], description=(
        "a failover of a site the protect monitor found lost: its heartbeats, witnesses and the decision's timing"))
    down: list[str] = Field([], description="the operation's apps that serve nowhere now, as the owner knows")
    serving: dict[str, str] = Field({}, description=(
        "the operation's apps an interrupted run of it left serving, and the site each serves at, as the owner knows"))


class StepRecord(BaseModel):
    """One step of the timeline, for `standby status` and the report."""

    name: str
    started: datetime
    ended: datetime | None = None
    status: str = "running"
    detail: str = ""
    output: str = ""
    group: str | None = None
    app: str | None = None
    prompt: str | None = None
    gate: GateRecord | None = Field(None, description="the operator's action that ended the step, or was refused")


class Approval(BaseModel):
    """Who approved, when, and why; proven by the directory or taken as given."""

    by: str
    comment: str = ""
    at: datetime | None = None
    verified: bool = False
    client: str = ""


class AppOutcome(BaseModel):
    """How one app recovered: targets, point used, and when it became healthy."""

    app: str
    group: str
    site: str
    targets: list[Target] = empty(list)
    point: RecoveryPoint | None = None
    started: datetime | None = None
    healthy: datetime | None = None
    identity_moved: datetime | None = None


# A group recovers its apps in batches inline until its history has this many events; later batches in children.
INLINE_HISTORY = 5000


class GroupInput(BaseModel):
    """One priority group's recovery, run as a child workflow: its own stage of the plan, never planned again."""

    key: str
    runbook: Runbook
    operation: str
    step: RecoverGroup
    owner: str = ""
    epoch: int = 0
    machine_index: dict[str, int] = {}
    endpoints: dict[str, int] = {}
    places: dict[str, int] = {}
    batch: bool = False
    after: dict[str, list[str]] = Field({}, description="a batch's apps that start once the apps of the batch they "
                                        "name launched (workflows/ready.py)")
    inline_history: int = Field(INLINE_HISTORY, description="history events up to which the group recovers its "
                                "batches inline; from then on, each in a RecoverApps child")


class GroupResult(BaseModel):
    """What the group's recovery did."""

    group: str
    apps: list[AppOutcome]
    steps: list[StepRecord]
    apps_total: int = 0
    gates: list[GateRecord] = []
    recovered: list[str] = empty(list, "apps now serving at the target, for the parent to tell the runbook's owner "
                                       "(before, the group told the owner itself: a round trip longer)")


class StopInput(BaseModel):
    """Stop a batch of apps at a site, in parallel, as a child workflow; past `deadline` what still runs is fenced."""

    runbook: Runbook
    site: str
    apps: list[str]
    deadline: timedelta = timedelta(minutes=2)
    machine_index: dict[str, int] = {}


class Progress(BaseModel):
    """Live state of an operation, answered by the `progress` query."""

    runbook: str
    operation: str
    state: str
    current: str = ""
    awaiting_approval: bool = False
    approval_by: str | None = None
    prompt: str | None = None
    child: str | None = None
    groups: dict[str, str] = {}
    apps: dict[str, str] = {}
    steps: list[StepRecord] = []
    approvals: list[Approval] = []
    gates: list[GateRecord] = Field([], description="every operator action, allowed or refused, in order")
    proof_needed: bool = Field(False, description="the runbook names a directory: every gate needs a sealed proof")
    evidence: list[FailoverEvidence] = Field([], description="the protect monitor's evidence (OperationInput)")


class OperationResult(BaseModel):
    """The outcome of an operation, kept in its history for the report."""

    runbook: str
    operation: str
    state: str
    from_site: str
    to_site: str
    apps: list[AppOutcome] = []
    apps_total: int = 0
    steps: list[StepRecord] = []
    approvals: list[Approval] = []
    gates: list[GateRecord] = []
    error: str | None = None
    evidence: list[FailoverEvidence] = Field([], description="the protect monitor's evidence (OperationInput)")
