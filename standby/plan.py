"""Pure planning: a runbook, an operation and where the runbook serves now become typed steps.

The plan is the program: `standby plan` prints these steps and one interpreter in `workflows/` runs
them, so what an operator reviews is what runs. Groups recover in order and stop in reverse order;
the apps of a group run in waves, an app starting once the apps it depends on in that group are up.
"""

from collections import deque
from collections.abc import Collection, Mapping
from datetime import datetime

from pydantic import BaseModel, Field

from standby import plan_reruns
from standby.contracts.failback import failback_client_machines
from standby.contracts.sites import Mode, app_places, public_ports
from standby.plan_steps import (
    Approval,
    AppStep,
    CheckReplication,
    CheckTested,
    CutOverGroup,
    Drain,
    DropWarm,
    FailbackClient,
    GroupStage,
    KeepTargets,
    RecordDrill,
    RecordState,
    RecoverGroup,
    RemoveTargets,
    RunHook,
    SetDirection,
    Step,
    StopApps,
    StopWaves,
    WaitContinuous,
    WarmGroup,
    Wave,
)
from standby.runbook import Hook, Operation, Runbook
from standby.suggest import did_you_mean

# Replication phases a failover launches from: a source that died leaves replication stalled, with its points.
LAUNCHABLE = ["continuous", "stalled"]


class PlanError(ValueError):
    """A plan that cannot be made, e.g. `--only` names an unknown app."""


class Plan(BaseModel):
    """What one operation does, in order: `steps`, then `on_failure` if one failed, then `always`."""

    runbook: str
    operation: Operation
    mode: Mode
    from_site: str
    to_site: str
    apps: list[str]
    outcome: str
    move_identity: bool = False
    endpoints: dict[str, int] = Field({}, description="each app's public port, which its peers' start argv reach")
    places: dict[str, int] = Field({}, description="each app's place: in a drill a site derives its peers' targets")
    steps: list[Step] = []
    on_failure: list[Step] = []
    always: list[Step] = []

    def stages(self) -> list[GroupStage]:
        """The recovered groups, in order."""
        return [step.stage for step in self.steps if isinstance(step, RecoverGroup)]

    def stop_waves(self) -> list[StopApps]:
        """The stop waves, in order (reverse recovery order), also those that one step stops together."""
        return [wave for step in self.steps if isinstance(step, StopApps | StopWaves)
                for wave in (step.waves if isinstance(step, StopWaves) else [step])]

    def app_steps(self) -> list[AppStep]:
        """Every app step in recovery order."""
        return [app for stage in self.stages() for wave in stage.waves for app in wave.apps]


def build(runbook: Runbook, operation: Operation, only: list[str] | None = None, active: str | None = None,
          point: datetime | None = None, down: Collection[str] = (), one_stop: bool = True,
          clear_interrupted: bool = True, clear_anywhere: bool = True, serving: Mapping[str, str] | None = None,
          keep_recovered: bool = True) -> Plan:
    """The plan of `operation`; `active` is the site serving now (default: the protected source); `down` the apps
    that serve nowhere (an aborted operation stopped them); `one_stop`: a site's stop waves in one step (False: a
    step each, as operations started before it ran); `clear_interrupted`: what an interrupted run launched for the
    apps down is removed before they launch again (False: as operations started before it ran); `clear_anywhere`: at
    a site of any provider (False: at a local site only, as operations started before AWS and vSphere kept to the
    apps named); `serving`: where the apps an interrupted run left serving serve; `keep_recovered`: those it
    recovered at this run's target are kept, not recovered again (False: as operations started before it ran)."""
    selected = select(runbook, only)
    source, target = runbook.protection.source, runbook.protection.target
    # A failback starts where the apps were failed over to; every other operation at the protected source.
    active = active or (target if operation == "failback" else source)
    passive = target if active == source else source
    clear = plan_reruns.clearing_at(clear_interrupted, clear_anywhere)
    kept = plan_reruns.kept(operation, selected, serving or {}, passive) if keep_recovered else []
    planner = _Planner(runbook, operation, selected, point, [app for app in selected if app in down], one_stop, clear,
                       kept)
    return _SHAPES[operation](planner, active, passive)


class _Planner:
    """What every operation's shape draws on: the runbook, the selected apps, the hooks of this operation."""

    def __init__(self, runbook: Runbook, operation: Operation, selected: list[str], point: datetime | None,
                 down: list[str] | None = None, one_stop: bool = True,
                 clear_at: frozenset[str] = plan_reruns.REMOVES_BY_APP, kept: list[str] | None = None):
        self.runbook, self.operation, self.selected, self.point = runbook, operation, selected, point
        self.down, self.one_stop, self.clear_at = down or [], one_stop, clear_at
        # The apps this run moves: the kept ones serve at its target already.
        self.kept = kept or []
        self.moving = [app for app in selected if app not in set(self.kept)] if self.kept else selected
        self.hooks = [h for h in runbook.hooks if operation in h.operations]
        # Looked up twice per app: a runbook of 10,000 apps has a handful of hooks.
        self._hooks_at: dict[tuple[str, str | None], list[Hook]] = {}
        for hook in self.hooks:
            self._hooks_at.setdefault((hook.point, hook.subject), []).append(hook)
        self._stages: list[GroupStage] | None = None

    def plan(self, mode: Mode, from_site: str, to_site: str, outcome: str, steps: list[Step],
             move_identity: bool = False, **extra: list[Step]) -> Plan:
        return Plan(runbook=self.runbook.runbook, operation=self.operation, mode=mode, from_site=from_site,
                    to_site=to_site, apps=self.selected, outcome=outcome, move_identity=move_identity,
                    endpoints=public_ports(self.runbook), places=app_places(self.runbook), steps=steps, **extra)

    def approval(self) -> list[Step]:
        rule = self.runbook.access.get(self.operation)
        if rule is not None:
            grant = rule.grant("approve")
            who = [f"a member of {g}" for g in grant.groups] + [f"user {u}" for u in grant.users]
            return [Approval(who=" or ".join(who) or "an operator")]
        if self.operation in ("failover", "failback", "switchover"):
            return [Approval(who="an operator")]
        return []

    def hooks_at(self, point: str, subject: str | None = None, **where: str) -> list[RunHook]:
        return [RunHook(hook=h, **where) for h in self._hooks_at.get((point, subject), ())]

    def recover(self, from_site: str, to_site: str, mode: Mode, move_identity: bool) -> list[Step]:
        return [*plan_reruns.clearing(self.runbook, to_site, mode, self.down, self.clear_at),
                *plan_reruns.keeping(to_site, mode, self.kept),
                *(RecoverGroup(stage=stage, from_site=from_site, to_site=to_site, mode=mode,
                               move_identity=move_identity, point=self.point)
                  for stage in self.stages())]

    def stages(self) -> list[GroupStage]:
        # Built once: the recovery and the stop steps both follow them.
        if self._stages is None:
            self._stages = self._build_stages()
        return self._stages

    def _build_stages(self) -> list[GroupStage]:
        stages, chosen, kept = [], set(self.selected), set(self.kept)
        for group in self.runbook.groups:
            inside = {app for app in group.apps if app in chosen}
            # A kept app is up: its dependents in the group start at once, not through its own dependencies.
            members = [app for app in group.apps if app in inside and app not in kept]
            if not members:
                continue
            needs = {app: [d for d in waits_for(self.runbook, app, inside) if d not in kept] for app in members}
            waves = [Wave(apps=[self.app_step(app, group.name, needs[app]) for app in level])
                     for level in _levels(members, needs)]
            stages.append(GroupStage(group=group.name, waves=waves,
                                     before=self.hooks_at("before_group", group.name, group=group.name),
                                     after=self.hooks_at("after_group", group.name, group=group.name)))
        return stages

    def app_step(self, name: str, group: str, depends_on: list[str]) -> AppStep:
        app = self.runbook.apps[name]
        return AppStep(
            app=name, group=group, machines=list(app.machines), depends_on=depends_on,
            pre_launch=self.hooks_at("pre_launch", name, group=group, app=name),
            post_launch=self.hooks_at("post_launch", name, group=group, app=name),
            health=[check.describe() for check in app.health], endpoint=app.endpoint.name if app.endpoint else None,
        )

    def stop(self, site: str) -> list[Step]:
        """Stop steps at a site: groups in reverse order, each group's waves in reverse order; all in one step. The
        kept apps are left out: the run that recovered them stopped them here, and a stop would report them down."""
        waves = [StopApps(site=site, group=stage.group, apps=[a.app for a in wave.apps])
                 for stage in reversed(self.stages()) for wave in reversed(stage.waves)]
        if not self.one_stop:
            return list(waves)
        return [StopWaves(site=site, waves=waves)] if waves else []

    def moving_only(self, *steps: Step) -> list[Step]:
        """The steps, unless every app is kept (a rerun of a run interrupted after its last group): with no app to
        act on, they would do nothing."""
        return list(steps) if self.moving else []

    def failback_clients(self, dr: str, home: str) -> list[Step]:
        """The Failback Client for the machines that fail back through it from their DR site."""
        machines = failback_client_machines(self.runbook, dr, self.moving)
        return [FailbackClient(dr=dr, home=home, machines=machines)] if machines else []


def _drill(p: _Planner, active: str, passive: str) -> Plan:
    keep = p.runbook.drill.keep_for
    steps: list[Step] = [
        CheckReplication(source=active, target=passive, accept=["continuous"]), *p.approval(),
        RemoveTargets(site=passive, scope="previous"), *p.hooks_at("before"),
        *p.recover(active, passive, "test", move_identity=False), *p.hooks_at("after"),
        RecordDrill(passed=True), KeepTargets(keep_for=keep),
    ]
    return p.plan("test", active, passive, "passed", steps, on_failure=[RecordDrill(passed=False)],
                  always=[RemoveTargets(site=passive, scope="this")])


def _failover(p: _Planner, active: str, passive: str) -> Plan:
    within = p.runbook.protection.tested_within
    steps: list[Step] = [
        CheckReplication(source=active, target=passive, accept=LAUNCHABLE),
        *([CheckTested(within=within)] if within else []), *p.approval(), *p.hooks_at("before"), *p.stop(active),
        *p.moving_only(Drain(source=active, target=passive, apps=p.moving, if_stopped=True)),
        SetDirection(source=active, target=passive, running=False, apps=p.selected),
        *p.recover(active, passive, "recovery", move_identity=True), *p.hooks_at("after"),
        RecordState(phase="failed_over", serving=passive, replicating=False),
    ]
    return p.plan("recovery", active, passive, "failed_over", steps, move_identity=True)


def _failback(p: _Planner, active: str, passive: str) -> Plan:
    dr, home = active, passive
    steps: list[Step] = [
        # The kept apps serve at home already, on newer data than their stopped DR copies: those are not replicated.
        *p.moving_only(SetDirection(source=dr, target=home, running=True, apps=p.moving, phase="reverse_protected")),
        *p.failback_clients(dr, home), *p.moving_only(WaitContinuous(source=dr, target=home, apps=p.moving)),
        *p.approval(), *p.hooks_at("before"), *p.stop(dr), *p.moving_only(Drain(source=dr, target=home, apps=p.moving)),
        SetDirection(source=dr, target=home, running=False, apps=p.selected),
        *p.recover(dr, home, "recovery", move_identity=True), *p.hooks_at("after"),
        RecordState(phase="failed_back", serving=home, replicating=False),
    ]
    return p.plan("recovery", dr, home, "failed_back", steps, move_identity=True)


def _return(p: _Planner, active: str, passive: str) -> Plan:
    source, target = active, passive
    steps: list[Step] = [
        *p.approval(), *p.hooks_at("before"), SetDirection(source=source, target=target, running=True, apps=p.selected),
        WaitContinuous(source=source, target=target, apps=p.selected), *p.hooks_at("after"),
        RecordState(phase="protected", serving=source, source=source, target=target, replicating=True, home=source),
        # Only once protection runs again: until then the earlier failover's targets are the fallback.
        RemoveTargets(site=target, scope="earlier failover"),
    ]
    return p.plan("recovery", source, source, "normal", steps)


def _switchover(p: _Planner, active: str, passive: str) -> Plan:
    # A warm start checks the apps started ahead against the source's data apps: with one of them down (a switchover
    # aborted after it stopped), they could never pass, so the rerun recovers cold, in dependency order.
    # Nor with an app kept at the target: it serves there already, no warm copy may start beside it.
    if all(p.runbook.apps[app].warm is not None for app in p.selected) and not p.down and not p.kept:
        return _warm_switchover(p, active, passive)
    steps: list[Step] = [
        CheckReplication(source=active, target=passive, accept=["continuous"]), *p.approval(),
        *p.hooks_at("before"), *p.stop(active),
        *p.moving_only(Drain(source=active, target=passive, apps=p.moving)),
        SetDirection(source=active, target=passive, running=False, apps=p.selected),
        *p.recover(active, passive, "recovery", move_identity=True),
        SetDirection(source=passive, target=active, running=True, apps=p.selected),
        RecordState(phase="protected", serving=passive, source=passive, target=active, replicating=True,
                    home=passive),
        *p.hooks_at("after"),
    ]
    return p.plan("recovery", active, passive, "switched_over", steps, move_identity=True)


def _warm_switchover(p: _Planner, active: str, passive: str) -> Plan:
    """Everything that touches no live data before the source stops; after it, one stop, the drain, the cutover.

    Only the apps that keep replicated data stop before the cutover. A stateless app serves at the source until its
    identity has moved to its copy at the target, and stops right after: its identity names one site at any
    moment, and the client's downtime is the data's move alone.
    """
    standby = [app for app in p.selected if p.runbook.apps[app].warm.standby]  # type: ignore[union-attr]
    stages = p.stages()
    steps: list[Step] = [
        CheckReplication(source=active, target=passive, accept=["continuous"]), *p.approval(), *p.hooks_at("before"),
        *[WarmGroup(stage=stage, from_site=active, to_site=passive, standby=_of(stage, standby)) for stage in stages],
        *_stop_in_order(active, stages, standby),
        *([Drain(source=active, target=passive, apps=standby)] if standby else []),
        SetDirection(source=active, target=passive, running=False, apps=p.selected),
        *[CutOverGroup(stage=stage, from_site=active, to_site=passive, standby=_of(stage, standby), point=p.point)
          for stage in stages],
        *_stop_in_order(active, stages, [app for app in p.selected if app not in standby]),
        SetDirection(source=passive, target=active, running=True, apps=p.selected),
        RecordState(phase="protected", serving=passive, source=passive, target=active, replicating=True,
                    home=passive),
        *p.hooks_at("after"),
    ]
    return p.plan("recovery", active, passive, "switched_over", steps, move_identity=True,
                  always=[DropWarm(site=passive)])


def _stop_in_order(site: str, stages: list[GroupStage], apps: list[str]) -> list[StopApps]:
    """One step stopping these apps at the site, dependents first; none when there are none."""
    ordered = [a.app for stage in reversed(stages) for wave in reversed(stage.waves) for a in wave.apps
               if a.app in apps]
    groups = [stage.group for stage in reversed(stages) if set(stage.apps()) & set(apps)]
    return [StopApps(site=site, group=", ".join(groups), in_order=True, apps=ordered)] if ordered else []


def _of(stage: GroupStage, apps: list[str]) -> list[str]:
    return [app for app in stage.apps() if app in apps]


_SHAPES = {"drill": _drill, "failover": _failover, "failback": _failback, "return": _return, "switchover": _switchover}


def select(runbook: Runbook, only: list[str] | None) -> list[str]:
    """The apps an operation acts on, in recovery order: all of them, or those `--only` names."""
    ordered = [app for group in runbook.groups for app in group.apps]
    if not only:
        return ordered
    unknown = [f"'{name}'{did_you_mean(name, ordered)}" for name in only if name not in runbook.apps]
    if unknown:
        raise PlanError(f"unknown app(s) {', '.join(unknown)} in --only; the runbook has {', '.join(ordered)}")
    wanted = set(only)
    return [app for app in ordered if app in wanted]


def left_behind(runbook: Runbook, only: list[str]) -> dict[str, list[str]]:
    """For each app of `only`, the apps it depends on (directly or not) that `only` leaves out."""
    chosen, out = set(only), {}
    for app in only:
        missing = [d for d in _all_dependencies(runbook, app) if d not in chosen]
        if missing:
            out[app] = missing
    return out


def _all_dependencies(runbook: Runbook, app: str) -> list[str]:
    found, todo, seen = [], deque(runbook.apps[app].depends_on), set()
    while todo:
        dependency = todo.popleft()
        if dependency in seen or dependency not in runbook.apps:
            continue
        seen.add(dependency)
        found.append(dependency)
        todo.extend(runbook.apps[dependency].depends_on)
    return found


def levels(runbook: Runbook, members: list[str]) -> list[list[str]]:
    """Apps of one group in waves, each app after the members it depends on (Kahn's algorithm: linear)."""
    inside = set(members)
    return _levels(members, {app: waits_for(runbook, app, inside) for app in members})


def _levels(members: list[str], needs: dict[str, list[str]]) -> list[list[str]]:
    """`levels`, given the members each member waits for (waits_for)."""
    position = {app: index for index, app in enumerate(members)}
    dependents: dict[str, list[str]] = {app: [] for app in members}
    for app, deps in needs.items():
        for dependency in deps:
            dependents[dependency].append(app)
    waiting = {app: len(deps) for app, deps in needs.items()}
    level = [app for app in members if not waiting[app]]
    out: list[list[str]] = []
    while level:
        out.append(level)
        ready = {d for app in level for d in dependents[app] if _release(waiting, d)}
        level = sorted(ready, key=position.__getitem__)
    if sum(len(lvl) for lvl in out) != len(members):
        stuck = [app for app in members if waiting[app]]
        raise PlanError(f"dependency cycle among {', '.join(stuck)}")
    return out


def _release(waiting: dict[str, int], app: str) -> bool:
    waiting[app] -= 1
    return waiting[app] == 0


def waits_for(runbook: Runbook, app: str, members: Collection[str]) -> list[str]:
    """Members `app` depends on, also through apps left out of `members` (web -> api -> db with api not selected)."""
    found, todo, seen = [], deque(runbook.apps[app].depends_on), set()
    while todo:
        dependency = todo.popleft()
        if dependency in seen or dependency not in runbook.apps:
            continue
        seen.add(dependency)
        if dependency in members:
            found.append(dependency)
        else:
            todo.extend(runbook.apps[dependency].depends_on)
    return found


