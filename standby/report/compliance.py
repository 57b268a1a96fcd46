"""The DR programme's evidence across runbooks, against each runbook's objectives; pure.

Objectives come from the runbook: `rto` and `rpo` per app, and `protection.tested_within` as the drill
interval. Figures, and how each is computed:

- drill: the owner's last drill (time, result, scope, forced); inside when it passed and is younger than
  `tested_within`, the rule a failover's precondition applies;
- RTO of the last drill and of the last failover, per app: from the operation's start until the app
  answered healthy at the recovery site (a failover's start includes its approval and prompts: the
  clock runs from the decision to recover);
- RPO of those operations, per app: the age of the recovery point its launch used, when the launch began.
  An upper bound of the loss: a site makes a point only when the data changed, so the point of an app
  that had no writes for a while is that much older than anything it could lose;
- now, per machine: replication lag as the site measured it last (the time since its last good pass:
  what a failover now would lose at most) and the age of the newest recovery point, both against the
  app's `rpo`. The point's age counts as inside while the replica is current (continuous, lag inside
  the RPO), since an idle app's newest point is old and yet holds all of its data.

The operations' figures are the ones `standby report` shows (standby.report.model computes both).
"""

from datetime import datetime, timedelta

from pydantic import BaseModel, computed_field

from standby.contracts.operations import OperationResult, Progress
from standby.contracts.protect import OwnerStatus
from standby.report.chart import short_duration
from standby.report.model import WorkflowInfo, build
from standby.runbook import Runbook


class Measure(BaseModel):
    """One figure against its objective; `inside` is None without an objective or when not measured yet."""

    seconds: float | None = None
    objective_seconds: float | None = None
    inside: bool | None = None


class AppMeasures(BaseModel):
    """One app's RTO and RPO in one operation."""

    app: str
    rto: Measure
    rpo: Measure
    point_time: datetime | None = None


class OperationEvidence(BaseModel):
    """The last drill or failover of a runbook, as measured from its result."""

    operation: str
    workflow_id: str
    run_id: str | None = None
    url: str | None = None
    status: str
    state: str
    started: datetime | None = None
    ended: datetime | None = None
    error: str | None = None
    apps: list[AppMeasures] = []


class DrillEvidence(BaseModel):
    """The owner's last drill, and how old it is against `tested_within`."""

    time: datetime
    passed: bool
    apps: list[str]
    forced: bool
    workflow_id: str
    age: Measure
    last_passed: datetime | None = None


class MachineNow(BaseModel):
    """One machine's replication now, against its app's RPO."""

    machine: str
    app: str
    phase: str
    latest_point: datetime | None = None
    lag: Measure
    point_age: Measure


class RunbookCompliance(BaseModel):
    """One runbook: its evidence, each figure inside its objective or not, and the sentences of what is not."""

    runbook: str
    owner: str
    url: str
    protecting: bool
    drill: DrillEvidence | None = None
    last_drill: OperationEvidence | None = None
    last_failover: OperationEvidence | None = None
    machines: list[MachineNow] = []
    outside: list[str] = []
    compliant: bool = True


class ComplianceReport(BaseModel):
    """`standby compliance --json`: every runbook of the namespace."""

    generated: datetime
    namespace: str
    runbooks: list[RunbookCompliance]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def compliant(self) -> int:
        """How many runbooks are inside every objective."""
        return sum(1 for r in self.runbooks if r.compliant)


class Fetched(BaseModel):
    """An operation as read from Temporal: its workflow and its result (completed) or progress (otherwise)."""

    info: WorkflowInfo
    data: OperationResult | Progress | None = None


class RunbookFacts(BaseModel):
    """What the compliance client reads of one runbook: its owner's runbook and status, its last operations."""

    runbook: Runbook
    status: OwnerStatus
    owner_url: str
    last_drill: Fetched | None = None
    last_failover: Fetched | None = None


def measure(seconds: float | None, objective: float | None, settled: bool = True) -> Measure:
    """A figure against an objective; a settled figure that is missing (nothing recovered) is outside it."""
    if objective is None or (seconds is None and not settled):
        return Measure(seconds=seconds, objective_seconds=objective)
    return Measure(seconds=seconds, objective_seconds=objective, inside=seconds is not None and seconds <= objective)


def runbook_compliance(facts: RunbookFacts, now: datetime) -> RunbookCompliance:
    """One runbook's evidence against its objectives, as of `now`."""
    truth, runbook = facts.status.truth, facts.runbook
    found = RunbookCompliance(runbook=runbook.runbook, owner=f"standby/{runbook.runbook}", url=facts.owner_url,
                              protecting=truth.protecting, drill=_drill(facts, now),
                              last_drill=_operation(facts.last_drill, runbook, "drill"),
                              last_failover=_operation(facts.last_failover, runbook, "failover"),
                              machines=_machines(facts, now))
    found.outside = _outside(found)
    found.compliant = not found.outside
    return found


def _drill(facts: RunbookFacts, now: datetime) -> DrillEvidence | None:
    truth, within = facts.status.truth, facts.runbook.protection.tested_within
    drill = truth.last_drill
    if drill is None:
        return None
    age = measure((now - drill.time).total_seconds(), within.total_seconds() if within else None)
    if age.inside and not drill.passed:
        age.inside = False
    return DrillEvidence(time=drill.time, passed=drill.passed, apps=drill.apps, forced=drill.forced,
                         workflow_id=drill.workflow_id, age=age,
                         last_passed=truth.last_passed_drill.time if truth.last_passed_drill else None)


def _operation(fetched: Fetched | None, runbook: Runbook, operation: str) -> OperationEvidence | None:
    if fetched is None:
        return None
    info = fetched.info
    evidence = OperationEvidence(operation=operation, workflow_id=info.workflow_id, run_id=info.run_id, url=info.url,
                                 status=info.status, state=info.status, started=info.started, ended=info.ended,
                                 error=info.error)
    settled = info.status != "running"
    if fetched.data is None:
        # Neither its result nor its progress could be read: nothing shows that an app recovered in it.
        evidence.apps = [AppMeasures(app=name, rto=measure(None, _seconds(app.rto), settled),
                                     rpo=measure(None, _seconds(app.rpo), settled))
                         for name, app in runbook.apps.items()]
        return evidence
    report = build(fetched.data, info, runbook)
    evidence.state = report.state
    evidence.apps = [AppMeasures(app=row.app, rto=measure(row.recovery_seconds, row.rto_target_seconds, settled),
                                 rpo=measure(row.point_age_seconds, row.rpo_target_seconds, settled),
                                 point_time=row.point_time) for row in report.apps]
    return evidence


def _machines(facts: RunbookFacts, now: datetime) -> list[MachineNow]:
    app_of = {machine: name for name, app in facts.runbook.apps.items() for machine in app.machines}
    machines = []
    for state in facts.status.machines:
        app = app_of.get(state.machine, "")
        rpo = _seconds(facts.runbook.apps[app].rpo) if app else None
        age = (now - state.latest_point).total_seconds() if state.latest_point else None
        lag, point_age = measure(state.lag_seconds, rpo), measure(age, rpo)
        if point_age.inside is False and lag.inside and state.phase == "continuous":
            point_age.inside = True
        machines.append(MachineNow(machine=state.machine, app=app, phase=state.phase, latest_point=state.latest_point,
                                   lag=lag, point_age=point_age))
    return machines


def _outside(found: RunbookCompliance) -> list[str]:
    """A sentence for every figure outside its objective."""
    out = []
    if found.drill is None:
        out.append("never drilled")
    elif found.drill.age.inside is False:
        verdict = "passed" if found.drill.passed else "failed"
        out.append(f"last drill {verdict} {_took(found.drill.age.seconds)} ago (objective: a passing drill within "
                   f"{_took(found.drill.age.objective_seconds)})")
    for evidence in (e for e in (found.last_drill, found.last_failover) if e is not None):
        for app in evidence.apps:
            for name, figure in (("RTO", app.rto), ("RPO", app.rpo)):
                if figure.inside is False:
                    out.append(f"{evidence.operation} {evidence.workflow_id}: {app.app} {name} "
                               f"{_took(figure.seconds)} > {_took(figure.objective_seconds)}")
    for machine in found.machines:
        for name, figure in (("replication lag", machine.lag), ("recovery point age", machine.point_age)):
            if figure.inside is False:
                out.append(f"{machine.machine} ({machine.app}): {name} {_took(figure.seconds)} > RPO "
                           f"{_took(figure.objective_seconds)}")
    return out


def _seconds(value: timedelta | None) -> float | None:
    return value.total_seconds() if value is not None else None


def _took(seconds: float | None) -> str:
    return short_duration(seconds) if seconds is not None else "not measured"
