"""The protect monitor's payloads: an app watch at a site and its report, the ladder's memory, the monitor's state.

The state travels in the owner's input across continue-as-new and answers `standby status`; defaults on
every field, so a history recorded before a field existed still decodes.
"""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from standby.continuity import Rule
from standby.contracts.gates import GateRecord
from standby.contracts.pairs import PairState
from standby.contracts.sites import AppRef, MachineReplication, SiteRef


class HealthWatch(BaseModel):
    """Watch some apps where they serve: their checks every interval, until a fault, a rule hit or the window ends."""

    site: SiteRef
    apps: list[AppRef]
    interval_seconds: float
    threshold: int = Field(description="consecutive failed checks that make a fault: the watch returns then")
    window_seconds: float
    rules: list[Rule] = []
    held: dict[str, datetime] = Field({}, description="`app/rule index` -> since when a rule's threshold holds")


class AppReading(BaseModel):
    """An app's last check at its site: healthy or not, why, how long the slowest check took, its metrics."""

    app: str
    site: str
    ok: bool
    failures: int = Field(0, description="consecutive failed checks")
    detail: str = ""
    latency_seconds: float = 0.0
    metrics: dict[str, float] = {}
    at: datetime


class RuleHit(BaseModel):
    """A performance rule whose threshold held for its duration."""

    app: str
    rule: int
    describe: str
    value: float
    since: datetime
    at: datetime = Field(description="the reading that found it held for its duration: when it acts")


class HealthReport(BaseModel):
    """What a watch saw: every app's last reading, the apps that faulted, the rules that held, the holds."""

    site: str
    readings: dict[str, AppReading] = {}
    faults: list[str] = []
    tertiary: dict[str, list[MachineReplication]] = Field({}, description="each trio's replication into its tertiary")
    hits: list[RuleHit] = []
    held: dict[str, datetime] = {}


class Ladder(BaseModel):
    """One app's remediation ladder: when it faulted, was restarted, escalated and alerted, all within the expiry."""

    faults: list[datetime] = []
    restarts: list[datetime] = []
    escalated: datetime | None = None
    alerted: datetime | None = None
    not_started: datetime | None = Field(None, description="the last restart, when it could not start the app")


class MonitorCommand(BaseModel):
    """An operator's word to the monitor: pause (maintenance mode) or resume."""

    action: Literal["pause", "resume"]
    by: str = ""
    reason: str = ""
    proof: str = Field("", description="sealed to the worker's public key by the CLI; empty without a directory")


class MonitorState(BaseModel):
    """The monitor's memory and what `standby status` shows of it."""

    paused: bool = False
    paused_by: str = ""
    pause: GateRecord | None = Field(None, description="who paused it, proven by the directory or taken as given")
    ladders: dict[str, Ladder] = {}
    held: dict[str, dict[str, datetime]] = Field({}, description="by site: the rule holds its watch carries on")
    readings: dict[str, AppReading] = {}
    pairs: dict[str, PairState] = {}
    tertiary: dict[str, list[MachineReplication]] = Field({}, description="each trio's replication into its tertiary")
    hits: list[RuleHit] = Field([], description="the last rules that acted, with when they began to hold")
    events: list[str] = Field([], description="the last decisions, newest last: `12:00:01 db at primary: ...`")
