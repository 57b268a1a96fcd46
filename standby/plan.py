"""Pure planning: a runbook and an operation become ordered stages of steps.

The CLI prints a plan; the workflows execute the same plan, so what
`standby plan` shows is what an operation does. Groups recover in order and
stop in reverse order; the apps of a group run in waves, an app starting once
the apps it depends on in that group are up.
"""

from collections.abc import Collection
from typing import Literal

from pydantic import BaseModel

from standby.durations import format_duration
from standby.runbook import Hook, Operation, Runbook
from standby.suggest import did_you_mean

Mode = Literal["test", "recovery"]


class PlanError(ValueError):
    """A plan that cannot be made, e.g. `--only` names an unknown app."""


class HookStep(BaseModel):
    """A command or prompt step, by its index in the runbook's hooks."""

    index: int
    at: str
    kind: Literal["command", "prompt", "action"]
    text: str


class AppStep(BaseModel):
    """Recover one app: pre-launch hooks, launch, post-launch hooks, health, identity."""

    app: str
    group: str
    machines: list[str]
    depends_on: list[str] = []
    pre_launch: list[HookStep] = []
    post_launch: list[HookStep] = []
    health_checks: int = 0
    endpoint: str | None = None


class Wave(BaseModel):
    """Apps that run in parallel."""

    apps: list[AppStep]


class GroupStage(BaseModel):
    """One priority group: its before hooks, its waves, its after hooks."""

    group: str
    before: list[HookStep] = []
    waves: list[Wave] = []
    after: list[HookStep] = []


class StopWave(BaseModel):
    """Apps stopped together, in reverse recovery order."""

    group: str
    apps: list[str]


class Plan(BaseModel):
    """What one operation does, in order."""

    runbook: str
    operation: Operation
    mode: Mode
    from_site: str
    to_site: str
    apps: list[str]
    approval: str | None = None
    preconditions: list[str] = []
    prepare: list[str] = []
    before: list[HookStep] = []
    stop: list[StopWave] = []
    transfer: list[str] = []
    recover: list[GroupStage] = []
    move_identity: bool = False
    after: list[HookStep] = []
    finish: list[str] = []

    def app_steps(self) -> list[AppStep]:
        """Every app step in recovery order."""
        return [app for stage in self.recover for wave in stage.waves for app in wave.apps]


def build(runbook: Runbook, operation: Operation, only: list[str] | None = None, active: str | None = None) -> Plan:
    """The plan of `operation`; `active` is the site serving now (default: the protected source)."""
    selected = _select(runbook, only)
    source, target = runbook.protection.source, runbook.protection.target
    active = active or source
    passive = target if active == source else source
    shape = _SHAPES[operation](runbook, active, passive)
    hooks = [(i, h) for i, h in enumerate(runbook.hooks) if operation in h.operations]
    plan = Plan(runbook=runbook.runbook, operation=operation, apps=selected, **shape)
    plan.approval = _approval(runbook, operation)
    plan.before = _hooks(hooks, "before", None)
    plan.after = _hooks(hooks, "after", None)
    if operation != "return":
        plan.recover = _stages(runbook, selected, hooks)
        if operation != "drill":
            plan.stop = _stop_waves(plan.recover)
    return plan


def _select(runbook: Runbook, only: list[str] | None) -> list[str]:
    ordered = [app for group in runbook.groups for app in group.apps]
    if not only:
        return ordered
    unknown = [f"'{name}'{did_you_mean(name, ordered)}" for name in only if name not in runbook.apps]
    if unknown:
        raise PlanError(f"unknown app(s) {', '.join(unknown)} in --only; the runbook has {', '.join(ordered)}")
    return [app for app in ordered if app in only]


def _drill(runbook: Runbook, active: str, passive: str) -> dict:
    return dict(
        mode="test", from_site=active, to_site=passive,
        preconditions=["continuous data protection on every machine"],
        prepare=["remove the previous drill's targets"],
        finish=["record the drill result", f"keep targets until finished or {format_duration(runbook.drill.keep_for)}",
                "clean up every drill target (always, also after failure or cancel)"],
    )


def _failover(runbook: Runbook, active: str, passive: str) -> dict:
    preconditions = ["every machine launchable: continuous data protection, or stalled with recovery points"]
    if runbook.protection.tested_within:
        preconditions.append(f"a passing drill within {format_duration(runbook.protection.tested_within)}")
    return dict(
        mode="recovery", from_site=active, to_site=passive, preconditions=preconditions,
        transfer=["choose the recovery point (latest, or the newest at or before --point)"],
        move_identity=True, finish=[f"state: failed over to {passive}"],
    )


def _failback(runbook: Runbook, active: str, passive: str) -> dict:
    target, source = runbook.protection.target, runbook.protection.source
    return dict(
        mode="recovery", from_site=target, to_site=source,
        prepare=[f"reverse replication: {target} -> {source}", "wait for continuous data protection"],
        transfer=["choose the latest recovery point"], move_identity=True, finish=[f"state: failed back to {source}"],
    )


def _return(runbook: Runbook, active: str, passive: str) -> dict:
    source, target = runbook.protection.source, runbook.protection.target
    return dict(
        mode="recovery", from_site=source, to_site=source,
        prepare=[f"reverse replication back to the original direction: {source} -> {target}",
                 "wait for continuous data protection"],
        finish=["state: normal"],
    )


def _switchover(runbook: Runbook, active: str, passive: str) -> dict:
    return dict(
        mode="recovery", from_site=active, to_site=passive,
        preconditions=[f"{passive} is in sync with {active}"],
        transfer=["drain and apply the replication queue", "swap roles under a new fencing token"],
        move_identity=True, finish=["verify every app answers healthy", f"resume replication {passive} -> {active}"],
    )


_SHAPES = {"drill": _drill, "failover": _failover, "failback": _failback, "return": _return, "switchover": _switchover}


def _approval(runbook: Runbook, operation: Operation) -> str | None:
    rule = runbook.access.get(operation)
    if rule is not None:
        who = [f"a member of {rule.ldap_group}"] if rule.ldap_group else []
        return " or ".join(who + [f"user {u}" for u in rule.users]) or "an operator"
    return "an operator" if operation in ("failover", "failback", "switchover") else None


def _hooks(hooks: list[tuple[int, Hook]], kind: str, subject: str | None) -> list[HookStep]:
    return [
        HookStep(index=i, at=h.at, kind=_kind(h), text=_text(h))
        for i, h in hooks
        if h.kind == kind and h.subject == subject
    ]


def _kind(hook: Hook) -> Literal["command", "prompt", "action"]:
    return "prompt" if hook.prompt is not None else "action" if hook.action is not None else "command"


def _text(hook: Hook) -> str:
    if hook.action is not None:
        target = hook.action.target
        where = f" on {target.site}" if target.site else ""
        return f"{hook.action.kind} {target.vm}{where}"
    return hook.prompt or " ".join(hook.run or [])


def _stages(runbook: Runbook, selected: list[str], hooks: list[tuple[int, Hook]]) -> list[GroupStage]:
    stages, chosen = [], set(selected)
    for group in runbook.groups:
        members = [app for app in group.apps if app in chosen]
        if not members:
            continue
        inside = set(members)
        waves = [Wave(apps=[_app_step(runbook, app, group.name, inside, hooks) for app in level])
                 for level in levels(runbook, members)]
        stages.append(GroupStage(group=group.name, waves=waves, before=_hooks(hooks, "before_group", group.name),
                                 after=_hooks(hooks, "after_group", group.name)))
    return stages


def levels(runbook: Runbook, members: list[str]) -> list[list[str]]:
    """Apps of one group in waves: each app after the members it depends on."""
    remaining, done, out, inside = list(members), set(), [], set(members)
    while remaining:
        ready = [a for a in remaining if all(d in done for d in waits_for(runbook, a, inside))]
        if not ready:
            raise PlanError(f"dependency cycle among {', '.join(remaining)}")
        out.append(ready)
        done.update(ready)
        remaining = [a for a in remaining if a not in done]
    return out


def waits_for(runbook: Runbook, app: str, members: Collection[str]) -> list[str]:
    """Members `app` depends on, also through apps left out of `members` (web -> api -> db with api not selected)."""
    found, todo, seen = [], list(runbook.apps[app].depends_on), set()
    while todo:
        dependency = todo.pop(0)
        if dependency in seen or dependency not in runbook.apps:
            continue
        seen.add(dependency)
        if dependency in members:
            found.append(dependency)
        else:
            todo.extend(runbook.apps[dependency].depends_on)
    return found


def _app_step(runbook: Runbook, name: str, group: str, members: Collection[str],
              hooks: list[tuple[int, Hook]]) -> AppStep:
    app = runbook.apps[name]
    return AppStep(
        app=name, group=group, machines=list(app.machines),
        depends_on=waits_for(runbook, name, members),
        pre_launch=_hooks(hooks, "pre_launch", name), post_launch=_hooks(hooks, "post_launch", name),
        health_checks=len(app.health), endpoint=app.endpoint.name if app.endpoint else None,
    )


def _stop_waves(stages: list[GroupStage]) -> list[StopWave]:
    return [
        StopWave(group=stage.group, apps=[a.app for a in wave.apps])
        for stage in reversed(stages)
        for wave in reversed(stage.waves)
    ]
