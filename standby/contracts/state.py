"""The runbook's truth, held by its owner workflow: where each app serves and replicates, the epoch, drills.

No worker's disk holds any of it; operations get a snapshot in their input and report every change back.
"""

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from standby.contracts.gates import GateRecord
from standby.contracts.monitor import MonitorState
from standby.runbook import Gate, Operation, Runbook

AppPhase = Literal["unprotected", "protected", "failed_over", "reverse_protected", "failed_back", "interrupted"]


class AppState(BaseModel):
    """One app: its phase, the site serving it (None while it is down), its replication direction."""

    phase: AppPhase = "unprotected"
    serving: str | None = None
    source: str
    target: str
    replicating: bool = False
    home: str = Field(description="the site it fails back to: the replication source it was protected from")
    interrupted_by: Operation | None = None

    def direction(self) -> str:
        """`primary -> dr`, and whether it runs."""
        return f"{self.source} -> {self.target}" + ("" if self.replicating else " (paused)")


class DrillRecord(BaseModel):
    """The last drill: when, its result, which apps, forced or not."""

    time: datetime
    passed: bool
    apps: list[str]
    forced: bool = False
    workflow_id: str = ""


class RunningOperation(BaseModel):
    """The operation in progress: one at a time per runbook, decided by the owner."""

    operation: Operation
    workflow_id: str
    requested_by: str
    started: datetime
    apps: list[str]
    gates: list[GateRecord] = Field([], description="who requested it, forced it or skipped its approval")


class RunbookTruth(BaseModel):
    """Everything an operation needs to know about a runbook, in one durable place."""

    runbook: str
    apps: dict[str, AppState]
    epoch: int = 0
    last_drill: DrillRecord | None = None
    last_passed_drill: DrillRecord | None = Field(None, description="the last drill that passed (maybe last_drill)")
    operation: RunningOperation | None = None
    protecting: bool = False
    history: list[str] = Field([], description="the last operations: `failover by alice: failed_over`")


class AppChange(BaseModel):
    """What an operation step changed of some apps; None keeps a field as it is."""

    apps: list[str]
    phase: AppPhase | None = None
    serving: str | None = None
    down: bool = Field(False, description="the apps serve nowhere now (stopped, not yet recovered)")
    source: str | None = None
    target: str | None = None
    replicating: bool | None = None
    home: str | None = None
    interrupted_by: Operation | None = None


class StateChange(BaseModel):
    """A report from an operation to its runbook's owner: app changes, a drill's result, a new epoch."""

    workflow_id: str
    apps: list[AppChange] = []
    drill: DrillRecord | None = None
    epoch: int | None = None
    finished: str | None = Field(None, description="the operation ended so: the runbook may run another")


class OperationRequest(BaseModel):
    """What an operator asks the owner for: an operation of (some apps of) the runbook."""

    operation: Operation
    runbook: Runbook
    only: list[str] = []
    point: datetime | None = None
    force: bool = False
    yes: bool = False
    requested_by: str = ""
    keep_for: timedelta | None = None
    proofs: dict[Gate, str] = Field({}, description="sealed proofs of request, force (--force) and skip_approval "
                                    "(--yes), bound to the operation's workflow ID; needed when the runbook names "
                                    "a directory")

    def gates(self) -> list[Gate]:
        """The gates the request passes at the owner: request, force with --force, skip_approval with --yes."""
        gates: list[Gate] = ["request"]
        if self.force:
            gates.append("force")
        if self.yes:
            gates.append("skip_approval")
        return gates


class ProtectRequest(BaseModel):
    """Start (or keep) protecting the runbook; `stop` ends protection after the current round."""

    runbook: Runbook
    requested_by: str = ""
    stop: bool = False


# How long a workflow task of the runbook's owner may take (Temporal's default: 10 s). A worker that dies with its
# site while it holds the owner's task delays the owner's next one this long, the takeover of that very site
# included. A worker that takes the owner over replays its run within it: the owner's runs stay under OWNER_EVENTS.
OWNER_TASK_TIMEOUT = timedelta(seconds=3)
# Decoding a runbook's input costs about 0.1 s per 1,000 machines on 2 shared cores, several times that under load.
OWNER_TASK_TIMEOUT_PER_1000 = timedelta(seconds=0.5)
OWNER_TASK_TIMEOUT_MAX = timedelta(seconds=10)
# Events after which the owner continues as new once idle: replayed at about 2 ms an event on 2 shared cores.
OWNER_EVENTS = 1000


def owner_task_timeout(machines: int) -> timedelta:
    """The owner's workflow task timeout for a runbook of so many machines: a large one takes longer to replay."""
    return min(OWNER_TASK_TIMEOUT + OWNER_TASK_TIMEOUT_PER_1000 * (machines / 1000), OWNER_TASK_TIMEOUT_MAX)


class OwnerInput(BaseModel):
    """The owner's input: the runbook and, after continue-as-new, its truth so far."""

    runbook: Runbook
    truth: RunbookTruth | None = None
    rounds: int = 0
    nonces: dict[str, float] = Field({}, description="nonces of request proofs already used, until they expire")
    monitor: MonitorState | None = Field(None, description="the protect monitor's memory, across continue-as-new")


class LegacyState(BaseModel):
    """The state file of earlier versions, one per runbook in a worker's state folder."""

    runbook: str
    active: str
    replication_source: str
    replication_target: str
    replicating: bool = True
    fencing_token: int = 0
    last_drill_time: datetime | None = None
    last_drill_passed: bool | None = None
    last_drill_id: str | None = None
