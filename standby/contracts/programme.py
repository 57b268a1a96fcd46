"""Inputs and results of the DR programme's workflows: scheduled drills (and their alerts), listing recovery points."""

from datetime import timedelta

from pydantic import BaseModel, Field

from standby.contracts.sites import PointsInput, RecoveryPoint
from standby.runbook import Runbook


class ScheduledDrillInput(BaseModel):
    """What a drill schedule starts: a drill of (some apps of) a runbook, asked of its owner."""

    runbook: str
    only: list[str] = []
    keep_for: timedelta | None = Field(None, description="keep the test targets this long (default: the runbook's)")


class DrillAsk(BaseModel):
    """The request a scheduled drill makes of the runbook's owner; `requested_by` is unique to the scheduled run."""

    runbook: str
    only: list[str] = []
    keep_for: timedelta | None = None
    requested_by: str


class DrillAsked(BaseModel):
    """What the owner answered: the drill's workflow and run, or why it refused; and the runbook it holds."""

    runbook: Runbook
    workflow_id: str | None = None
    run_id: str | None = None
    refused: str | None = None


class DrillOutcome(BaseModel):
    """How a drill ended: its state (`passed`, `failed`, `cancelled`, ...) and, unless it passed, why."""

    workflow_id: str
    state: str
    passed: bool
    reason: str = ""


class ScheduledDrillResult(BaseModel):
    """A scheduled drill that passed: which drill workflow ran."""

    runbook: str
    drill: str
    state: str


class AppPointsInput(BaseModel):
    """The recovery points of one machine of an app, at the site it replicates into."""

    app: str
    points: PointsInput


class ListPointsInput(BaseModel):
    """The machines whose recovery points to list, each at its own replication target."""

    runbook: str
    machines: list[AppPointsInput]


class MachinePoints(BaseModel):
    """One machine's recovery points at one site, oldest first."""

    app: str
    machine: str
    site: str
    points: list[RecoveryPoint] = []
    error: str | None = Field(None, description="why the site did not list them (its worker's answer)")
