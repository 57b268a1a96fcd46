"""What a report of one operation shows, and `build`, which computes it from the operation's result or progress."""

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from standby.contracts.gates import GateRecord
from standby.contracts.operations import AppOutcome, OperationResult, Progress, StepRecord
from standby.contracts.pairs import FailoverEvidence
from standby.runbook import Runbook

FINAL = ("completed", "failed", "cancelled", "terminated", "timed_out")


class AppMeasurement(BaseModel):
    """What a caller measured of one app from outside, e.g. the demo's client."""

    rto_seconds: float | None = None
    rpo_writes_lost: int | None = None
    rpo_point_age_seconds: float | None = None


class Measurements(BaseModel):
    """Figures measured by the caller: RTO from the disaster, RPO as acknowledged writes missing."""

    apps: dict[str, AppMeasurement] = {}
    data_check_passed: bool
    data_check_detail: str = ""
    writes_acknowledged: int = 0
    writes_served: int = 0
    disaster_at: datetime | None = None


class WorkflowInfo(BaseModel):
    """The workflow behind the operation, as Temporal describes it."""

    workflow_id: str
    run_id: str | None = None
    url: str | None = None
    status: str = "completed"
    started: datetime | None = None
    ended: datetime | None = None
    error: str | None = None


class AppRow(BaseModel):
    """One app's observed recovery against its runbook targets (None: no target, or not known)."""

    app: str
    group: str
    site: str
    providers: list[str] = Field([], description="the providers that launched its targets: `cloud (aws)`")
    targets: list[str] = []
    point_id: str | None = None
    point_time: datetime | None = None
    point_age_seconds: float | None = None
    rpo_target_seconds: float | None = None
    rpo_met: bool | None = None
    started: datetime | None = None
    healthy: datetime | None = None
    identity_moved: datetime | None = None
    recovery_seconds: float | None = None
    rto_target_seconds: float | None = None
    rto_met: bool | None = None
    measured: AppMeasurement | None = None
    measured_rto_met: bool | None = None
    measured_rpo_met: bool | None = None


class Answer(BaseModel):
    """An approval of the operation or the answer to a prompt step: who, when, to what."""

    kind: Literal["approval", "prompt"]
    what: str
    by: str
    at: datetime | None = None
    comment: str = ""
    verified: bool | None = None
    """Proven by the directory; None for a record made before gates were verified."""


class Failure(BaseModel):
    """Where the operation failed and why."""

    step: str | None = None
    reason: str


class Report(BaseModel):
    """Everything a report shows; the JSON format is this model dumped."""

    runbook: str
    operation: str
    state: str
    from_site: str | None = None
    to_site: str | None = None
    workflow: WorkflowInfo
    started: datetime | None = None
    ended: datetime | None = None
    generated: datetime
    targets_known: bool = False
    apps: list[AppRow] = []
    steps: list[StepRecord] = []
    hooks: list[StepRecord] = []
    answers: list[Answer] = []
    actions: list[GateRecord] = []
    """Every operator action at a gate, allowed or refused: who, proven or not, when, from which client."""
    failure: Failure | None = None
    error: str | None = None
    measurements: Measurements | None = None
    evidence: list[FailoverEvidence] = []
    """The protect monitor's evidence of a lost site, for a failover of its apps (automatic or an operator's)."""


def build(data: OperationResult | Progress, info: WorkflowInfo, runbook: Runbook | None = None,
          measurements: Measurements | None = None, now: datetime | None = None) -> Report:
    """The report of one operation from its result (completed) or its progress (running or failed)."""
    now = now or info.ended or datetime.now(UTC)
    steps = sorted(data.steps, key=lambda s: s.started)
    started = info.started or (steps[0].started if steps else None)
    final = info.status in FINAL
    from_site, to_site = _sites(data, steps)
    outcomes = data.apps if isinstance(data, OperationResult) else _outcomes_from_steps(data, steps, to_site)
    error = (data.error if isinstance(data, OperationResult) else None) or info.error
    return Report(
        runbook=data.runbook, operation=data.operation, state=_state(data, info), from_site=from_site, to_site=to_site,
        workflow=info, started=started, ended=info.ended or (_last_end(steps) if final else None), generated=now,
        targets_known=runbook is not None,
        apps=[_app_row(o, steps, started, runbook, measurements, final) for o in outcomes],
        steps=steps, hooks=[s for s in steps if s.name.startswith("hook ") or s.output],
        answers=_answers(data, steps), actions=data.gates, failure=_failure(steps, error), error=error,
        measurements=measurements, evidence=data.evidence,
    )


def _state(data: OperationResult | Progress, info: WorkflowInfo) -> str:
    """A closed workflow's status wins over the last state its progress recorded."""
    if info.status in ("failed", "cancelled", "terminated", "timed_out"):
        return info.status
    return data.state


def _sites(data: OperationResult | Progress, steps: list[StepRecord]) -> tuple[str | None, str | None]:
    if isinstance(data, OperationResult):
        return data.from_site, data.to_site
    stopped = [s.name.rsplit(" on ", 1)[1] for s in steps if s.name.startswith("stop ") and " on " in s.name]
    launched = [s.name.rsplit(" on ", 1)[1] for s in steps if s.name.startswith("launch ") and " on " in s.name]
    return (stopped[0] if stopped else None), (launched[0] if launched else None)


def _last_end(steps: list[StepRecord]) -> datetime | None:
    ends = [s.ended for s in steps if s.ended]
    return max(ends) if ends else None


def _outcomes_from_steps(progress: Progress, steps: list[StepRecord], site: str | None) -> list[AppOutcome]:
    """What a running or failed operation's timeline says of each app (its outcomes are only in the result)."""
    apps = list(dict.fromkeys([*progress.apps, *(s.app for s in steps if s.app)]))
    return [_outcome_of(app, [s for s in steps if s.app == app], site) for app in apps]


def _outcome_of(app: str, steps: list[StepRecord], site: str | None) -> AppOutcome:
    health = [s for s in steps if s.name.startswith("health ")]
    moved = [s for s in steps if s.name.startswith("move ") and s.status == "done"]
    healthy = health and all(s.status == "done" for s in health)
    return AppOutcome(app=app, group=next((s.group for s in steps if s.group), ""), site=site or "",
                      started=steps[0].started if steps else None,
                      healthy=max(s.ended for s in health if s.ended) if healthy else None,
                      identity_moved=moved[-1].ended if moved else None)


def _app_row(outcome: AppOutcome, steps: list[StepRecord], start: datetime | None, runbook: Runbook | None,
             measurements: Measurements | None, final: bool) -> AppRow:
    app = runbook.apps.get(outcome.app) if runbook else None
    rto = app.rto.total_seconds() if app and app.rto is not None else None
    rpo = app.rpo.total_seconds() if app and app.rpo is not None else None
    age = _point_age(outcome, steps)
    took = _seconds(start, outcome.healthy)
    measured = measurements.apps.get(outcome.app) if measurements else None
    return AppRow(
        app=outcome.app, group=outcome.group, site=outcome.site,
        providers=list(dict.fromkeys(t.provider for t in outcome.targets if t.provider)),
        targets=[t.target_id + (f" ({t.address}:{t.port})" if t.address and t.port else "")
                 + (f" by {t.provider}" if t.provider else "") for t in outcome.targets],
        point_id=outcome.point.id if outcome.point else None, point_time=outcome.point.time if outcome.point else None,
        point_age_seconds=age, rpo_target_seconds=rpo, rpo_met=_met(age, rpo, final),
        started=outcome.started, healthy=outcome.healthy, identity_moved=outcome.identity_moved,
        recovery_seconds=took, rto_target_seconds=rto, rto_met=_met(took, rto, final), measured=measured,
        measured_rto_met=_met(measured.rto_seconds, rto, True) if measured else None,
        measured_rpo_met=_met(measured.rpo_point_age_seconds, rpo, True) if measured else None,
    )


def _point_age(outcome: AppOutcome, steps: list[StepRecord]) -> float | None:
    """How old the recovery point was when the app's launch began: the RPO as observed."""
    if outcome.point is None:
        return None
    launch = next((s for s in steps if s.app == outcome.app and s.name.startswith("launch ")), None)
    return _seconds(outcome.point.time, launch.started if launch else outcome.started)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


def _met(value: float | None, target: float | None, final: bool) -> bool | None:
    """Met, missed, or None: no target, or still running and not reached yet."""
    if target is None:
        return None
    if value is None:
        return False if final else None
    return value <= target


def _answers(data: OperationResult | Progress, steps: list[StepRecord]) -> list[Answer]:
    approvals = [Answer(kind="approval", what=f"{data.operation} of {data.runbook}", by=a.by, at=a.at,
                        comment=a.comment, verified=a.verified if data.gates else None) for a in data.approvals]
    prompts = [_prompt_answer(s) for s in steps if s.prompt is not None]
    return sorted(approvals + prompts, key=lambda a: (a.at is None, a.at or datetime.min.replace(tzinfo=UTC)))


def _prompt_answer(step: StepRecord) -> Answer:
    """Who answered a prompt step: its gate's record, or what the detail of an older record says."""
    if step.gate is not None and step.status == "done":
        return Answer(kind="prompt", what=step.prompt or "", at=step.ended, by=step.gate.by,
                      verified=step.gate.verified)
    by = step.detail.removeprefix("continued by ") if step.status == "done" else f"({step.status})"
    return Answer(kind="prompt", what=step.prompt or "", at=step.ended, by=by)


def _failure(steps: list[StepRecord], error: str | None) -> Failure | None:
    failed = next((s for s in steps if s.status == "failed"), None)
    if failed:
        return Failure(step=failed.name, reason=failed.detail or error or "no reason recorded")
    return Failure(reason=error) if error else None
