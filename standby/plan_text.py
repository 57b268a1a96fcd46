"""A plan as numbered lines an operator reads before running it: one line per step the interpreter runs."""

from standby import plan_holders, plan_warm_text
from standby.holders import is_mixed
from standby.plan import Plan
from standby.plan_steps import (
    Approval,
    AppStep,
    CheckReplication,
    CheckTested,
    CutOverGroup,
    KeepServing,
    RecoverGroup,
    Step,
    StopWaves,
    WarmGroup,
)
from standby.runbook import Runbook

_SKIPPABLE = {CheckReplication: " (skip with --force)", CheckTested: " (skip with --force)",
              Approval: " (skip with --yes)"}


def lines(plan: Plan, runbook: Runbook | None = None) -> list[str]:
    """The plan in execution order, one step a line, a group's apps indented under it, each saying which apps it
    waits for; with a runbook that has mixed sites, the providers each step uses."""
    mixed = runbook if runbook is not None and is_mixed(runbook) else None
    out = [f"{plan.operation} of {plan.runbook}: {_direction(plan)} ({plan.mode} mode), apps: {', '.join(plan.apps)}"]
    for number, step in enumerate(plan.steps, 1):
        out.append(f"{number:>3}. {step.label()}{_SKIPPABLE.get(type(step), '')}")
        out += [f"       {line}" for line in (plan_holders.lines(step, plan, mixed) if mixed else [])]
        out += [f"       {line}" for line in _details(step, plan, mixed)]
    if plan.on_failure:
        out.append("  if a step fails: " + "; ".join(step.label() for step in plan.on_failure))
    if plan.always:
        out.append("  always, also after failure or abort: " + "; ".join(step.label() for step in plan.always))
    return out


def labels(plan: Plan) -> list[str]:
    """The label of every top-level step, in order: what the interpreter names each step it runs."""
    return [step.label() for step in plan.steps]


def _direction(plan: Plan) -> str:
    return plan.to_site if plan.from_site == plan.to_site else f"{plan.from_site} -> {plan.to_site}"


def _details(step: Step, plan: Plan, mixed: Runbook | None) -> list[str]:
    if isinstance(step, WarmGroup | CutOverGroup):
        return plan_warm_text.lines(step)
    if isinstance(step, KeepServing):
        return [step.skips()]
    if isinstance(step, StopWaves):
        return [f"wave {number}: {wave.label()}" for number, wave in enumerate(step.waves, 1)]
    if not isinstance(step, RecoverGroup):
        return []
    stage = step.stage
    out = [hook.label() for hook in stage.before]
    members = set(stage.apps())
    out += [f"{app.app} ({_start(app, members)}): {_app(app, step, mixed)}" for wave in stage.waves
            for app in wave.apps]
    return out + [hook.label() for hook in stage.after]


def _start(app: AppStep, members: set[str]) -> str:
    """When an app starts: the dependency graph the group follows (workflows/ready.py), not a wave."""
    within = [d for d in app.depends_on if d in members]
    return f"once {', '.join(within)} {'is' if len(within) == 1 else 'are'} healthy" if within else "at once"


def _app(app: AppStep, step: RecoverGroup, mixed: Runbook | None) -> str:
    verb = "launch test target" if step.mode == "test" else "launch"
    point = f" from the newest point at or before {step.point:%Y-%m-%dT%H:%M:%SZ}" if step.point else ""
    by = plan_holders.launch_label(mixed, step, app.machines) if mixed else ""
    parts = ([h.label() for h in app.pre_launch] + [f"{verb} {', '.join(app.machines)} at {step.to_site}{by}{point}"]
             + [h.label() for h in app.post_launch] + [f"health {check}" for check in app.health]
             + ([f"move {app.endpoint} to {step.to_site}"] if app.endpoint and step.move_identity else []))
    return "; ".join(parts)
