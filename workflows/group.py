"""Recovery of one priority group, as a child workflow so that no history grows with the runbook.

An app starts as soon as the apps it depends on in the group are healthy
(workflows/ready.py); apps ready at the same moment launch together, one launch
activity per batch of machines. Each app: pre-launch hooks, launch of its
machines, post-launch hooks, health checks, then its network identity moves.
Batches run inline until the group's history reaches `inline_history` events (GroupInput),
then as `RecoverApps` children, so that every history stays in the low thousands
of events whatever the runbook's size.

Executions begun before batches (no `batched-recovery` marker in their history)
keep the waves they began with: a wave larger than BATCH_APPS apps as
`RecoverApps` children, one activity per machine.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.contracts.batches import LaunchBatchInput, LaunchProgress
    from standby.contracts.operations import AppOutcome, GroupInput, GroupResult, StepRecord
    from standby.contracts.sites import AppRef, LaunchInput, RecoveryPoint, Target, app_ref, runbook_slice, site_ref
    from standby.contracts.state import AppChange, StateChange
    from standby.plan_steps import AppStep, GroupStage, RunHook, Wave
    from workflows import actions, hooks
    from workflows.operator import Operator
    from workflows.ready import recover_when_ready

# Apps of one workflow recovered at once; bounds pending activities far below Temporal's 2,000.
MAX_PARALLEL_APPS = 100
# A wave up to this size runs inline; a larger one in batch children of this size.
BATCH_APPS = 50
# Batch children running at once; bounds pending children far below Temporal's 2,000.
MAX_PARALLEL_BATCHES = 20
# A parent keeps its children's steps on its own timeline up to this many; beyond, a summary step.
MAX_COPIED_STEPS = 500
# Recovery in batches of machines, each app as soon as its dependencies are healthy (workflows/ready.py).
BATCHED = "batched-recovery"
# Outcomes a result carries app by app, so that no payload nears Temporal's 2 MiB; beyond, only their count.
MAX_RESULT_APPS = 1000
# A group (or batch) that recovered returns the apps now serving for its parent to report, instead of signalling the
# owner itself before it completes: a round trip less per group. One that fails still signals them itself.
RETURNED_RECOVERED = "returned-recovered"


def keep_steps(steps: list[StepRecord], label: str, started: datetime, ended: datetime) -> list[StepRecord]:
    """The steps themselves, or one summary step when there are too many to carry in a result."""
    if len(steps) <= MAX_COPIED_STEPS:
        return steps
    failed = sum(s.status == "failed" for s in steps)
    return [StepRecord(name=label, started=started, ended=ended, status="failed" if failed else "done",
                       detail=f"{len(steps)} steps ({failed} failed); see the child workflows")]


# A batch's progress, and its targets app by app.
Launched = tuple[LaunchProgress, dict[str, list[Target]]]


async def _by_app(launching: Awaitable[LaunchProgress]) -> Launched:
    """The batch's progress, its targets sorted out once for all its apps (not once per app: 200 x 200)."""
    progress = await launching
    targets: dict[str, list[Target]] = {}
    for target in progress.targets:
        targets.setdefault(target.app, []).append(target)
    return progress, targets


class AppRecovery(Operator):
    """What recovering an app takes, shared by the group workflow and its batch children."""

    _inp: GroupInput

    def _begin_recovery(self, inp: GroupInput) -> None:
        self._start_progress(inp.runbook.runbook, inp.operation)
        self._guard(inp.runbook)
        self._inp, self._step = inp, inp.step
        self._slots = asyncio.Semaphore(MAX_PARALLEL_APPS)
        self._recovered: list[str] = []

    def _reportable(self) -> list[str]:
        """The apps now serving at the target that the runbook's owner must hear of (a recovery's, not a drill's)."""
        return self._recovered if self._inp.owner and self._step.mode == "recovery" else []

    async def _report_recovered(self) -> None:
        """Tell the runbook's owner which apps now serve at the target: also when the recovery failed halfway."""
        if self._reportable():
            change = StateChange(workflow_id=workflow.info().workflow_id,
                                 apps=[AppChange(apps=self._recovered, serving=self._step.to_site)])
            await workflow.get_external_workflow_handle(self._inp.owner).signal("report", change)

    async def _hand_over(self) -> list[str]:
        """After a recovery that succeeded: the apps for the parent to report, or (histories from before) reported
        here."""
        if workflow.patched(RETURNED_RECOVERED):
            return self._reportable()
        await self._report_recovered()
        return []

    def _context(self, group: str | None, app: str | None, point: str = "") -> dict[str, str]:
        inp, step = self._inp, self._step
        return {"runbook": inp.runbook.runbook, "operation": inp.operation, "mode": step.mode, "site": step.from_site,
                "target": step.to_site, "group": group or "", "app": app or "", "recovery_point": point}

    async def _hooks(self, steps: list[RunHook], point: str = "") -> None:
        for hook in steps:
            await hooks.run_hook(self, self._inp.runbook, hook, self._context(hook.group, hook.app, point))

    def _app(self, name: str) -> AppRef:
        return app_ref(self._inp.runbook, name, self._inp.machine_index or None)

    async def _recover(self, step: AppStep) -> AppOutcome:
        async with self._slots:
            to_site = self._step.to_site
            self._progress.apps[step.app] = "launching"
            outcome = AppOutcome(app=step.app, group=step.group, site=to_site, started=workflow.now())
            await self._hooks(step.pre_launch)
            async with self.step(f"launch {step.app} on {to_site}", group=step.group, app=step.app) as rec:
                outcome.targets, outcome.point = await self._launch(step)
                rec.detail = f"from point {outcome.point.id}" if outcome.point else ""
            return await self._after_launch(step, outcome)

    async def _after_launch(self, step: AppStep, outcome: AppOutcome) -> AppOutcome:
        """Post-launch hooks, health checks, the identity move."""
        to_site = self._step.to_site
        await self._hooks(step.post_launch, outcome.point.time.isoformat() if outcome.point else "")
        self._progress.apps[step.app] = "checking health"
        await self._health(step, outcome)
        outcome.healthy = workflow.now()
        if self._step.move_identity and step.endpoint:
            async with self.step(f"move {step.endpoint} to {to_site}", group=step.group, app=step.app):
                await actions.move_identity(self._inp.runbook, step.app, to_site, outcome.targets, self._inp.epoch)
            outcome.identity_moved = workflow.now()
        self._progress.apps[step.app] = "recovered"
        self._recovered.append(step.app)
        return outcome

    async def _recover_batch(self, apps: list[AppStep], healthy: Callable[[str], None]) -> list[AppOutcome]:
        """A batch of apps: pre-launch hooks, one launch activity for all their machines, then each app on its own
        (post-launch hooks, health, identity), `healthy(app)` called as each becomes healthy."""
        for step in apps:
            self._progress.apps[step.app] = "launching"
        started = workflow.now()
        await asyncio.gather(*(self._hooks(step.pre_launch) for step in apps))
        inp, plan = self._inp, self._step
        batch = LaunchBatchInput(
            key=inp.key, site=site_ref(inp.runbook, plan.to_site), source=site_ref(inp.runbook, plan.from_site),
            mode=plan.mode, apps=[self._app(step.app) for step in apps], at_or_before=plan.point,
            endpoints=inp.endpoints, places=inp.places, epoch=inp.epoch)
        launched = asyncio.create_task(_by_app(actions.launch_batch(batch)))
        return list(await asyncio.gather(*(self._finish(step, started, launched, healthy) for step in apps)))

    async def _finish(self, step: AppStep, started: datetime, launched: Awaitable[Launched],
                      healthy: Callable[[str], None]) -> AppOutcome:
        outcome = AppOutcome(app=step.app, group=step.group, site=self._step.to_site, started=started)
        async with self.step(f"launch {step.app} on {self._step.to_site}", group=step.group, app=step.app) as rec:
            progress, targets = await launched
            outcome.targets = targets.get(step.app, [])
            points = [progress.points[t.machine] for t in outcome.targets if t.machine in progress.points]
            # The app's moment: every machine came back from its newest point at or before it (standby.moment).
            outcome.point = min(points, key=lambda p: p.time) if points else None
            rec.started = started
            rec.detail = f"from point {outcome.point.id}" if outcome.point else ""
        async with self._slots:
            await self._after_launch(step, outcome)
        healthy(step.app)
        return outcome

    async def _launch(self, step: AppStep) -> tuple[list[Target], RecoveryPoint | None]:
        """Launch every machine of the app from its own recovery point."""
        inp, runbook, plan = self._inp, self._inp.runbook, self._step
        app = self._app(step.app)
        found = await asyncio.gather(
            *(actions.recovery_points(runbook, plan.from_site, plan.to_site, m.name) for m in app.machines))
        points = actions.app_points({m.name: f for m, f in zip(app.machines, found, strict=True)}, plan.point,
                                    plan.to_site)
        launches = [
            actions.launch(LaunchInput(
                key=inp.key, site=site_ref(runbook, plan.to_site), source=site_ref(runbook, plan.from_site), app=app,
                machine=machine, mode=plan.mode, point=points[machine.name], endpoints=inp.endpoints,
                places=inp.places, epoch=inp.epoch,
            ))
            for machine in app.machines
        ]
        # The app's moment: the oldest of the points its machines came back from.
        moment = min(points.values(), key=lambda p: p.time) if points else None
        return list(await asyncio.gather(*launches)), moment

    async def _health(self, step: AppStep, outcome: AppOutcome) -> None:
        if not self._inp.runbook.apps[step.app].health:
            # Most apps of a large runbook have no checks: no reference to build for them.
            return
        app = self._app(step.app)
        for check in app.config.health:
            for target in outcome.targets:
                async with self.step(f"health {step.app}/{target.machine}", group=step.group, app=step.app) as rec:
                    result = await actions.check_health(app, check, target)
                    rec.detail = result.detail


@workflow.defn(name="RecoverGroup")
class RecoverGroupWorkflow(AppRecovery):
    """Recover the apps of one group at the target site: the stage of the plan its input carries."""

    @workflow.init
    def __init__(self, inp: GroupInput) -> None:
        self._begin_recovery(inp)
        self._batches = asyncio.Semaphore(MAX_PARALLEL_BATCHES)
        self._children = 0

    @workflow.run
    async def run(self, inp: GroupInput) -> GroupResult:
        """Before hooks, waves of apps (inline or in batches), after hooks."""
        stage = inp.step.stage
        outcomes: list[AppOutcome] = []
        try:
            await self._hooks(stage.before)
            if workflow.patched(BATCHED):
                outcomes = await recover_when_ready(stage, self._ready_batch)
            else:
                for number, wave in enumerate(stage.waves, 1):
                    if len(wave.apps) <= BATCH_APPS:
                        outcomes += await asyncio.gather(*(self._recover(app) for app in wave.apps))
                    else:
                        outcomes += await self._in_batches(number, wave)
            await self._hooks(stage.after)
        except BaseException:
            await self._report_recovered()
            raise
        recovered = await self._hand_over()
        self._progress.state = "done"
        return GroupResult(group=stage.group, apps=outcomes[:MAX_RESULT_APPS], apps_total=len(outcomes),
                           steps=self._progress.steps, gates=self._progress.gates, recovered=recovered)

    async def _ready_batch(self, apps: list[AppStep], healthy: Callable[[str], None]) -> list[AppOutcome]:
        """A batch inline while this history is small; past `inline_history` events, in a child of its own."""
        if workflow.info().get_current_history_length() < self._inp.inline_history:
            return await self._recover_batch(apps, healthy)
        self._children += 1
        name, summary = f"batch{self._children}", f"recover {len(apps)} apps of group {self._inp.step.stage.group}"
        result = await self._batch(name, apps, summary, f"batch {self._children}: {len(apps)} apps")
        for outcome in result.apps:
            healthy(outcome.app)
        return result.apps

    async def _in_batches(self, number: int, wave: Wave) -> list[AppOutcome]:
        chunks = [wave.apps[i:i + BATCH_APPS] for i in range(0, len(wave.apps), BATCH_APPS)]
        group = self._inp.step.stage.group
        results = await asyncio.gather(*(
            self._batch(f"wave{number}-batch{index}", chunk,
                        f"recover {len(chunk)} apps of group {group}, wave {number}",
                        f"wave {number} batch {index}: {len(chunk)} apps")
            for index, chunk in enumerate(chunks, 1)))
        return [outcome for result in results for outcome in result.apps]

    async def _batch(self, name: str, apps: list[AppStep], summary: str, label: str) -> GroupResult:
        inp, names = self._inp, [a.app for a in apps]
        stage = GroupStage(group=inp.step.stage.group, waves=[Wave(apps=apps)])
        child = inp.model_copy(update={
            "runbook": runbook_slice(inp.runbook, names), "batch": True,
            "step": inp.step.model_copy(update={"stage": stage}),
            "machine_index": {m: inp.machine_index[m] for a in names for m in inp.runbook.apps[a].machines},
        })
        async with self._batches:
            started = workflow.now()
            result = await workflow.execute_child_workflow(
                RecoverAppsWorkflow.run, child, id=f"{workflow.info().workflow_id}/{name}", static_summary=summary)
        self._progress.steps += keep_steps(result.steps, label, started, workflow.now())
        self._progress.gates += result.gates
        # The batch's apps are this group's to report now, with its own.
        self._recovered += result.recovered
        return result


@workflow.defn(name="RecoverApps")
class RecoverAppsWorkflow(AppRecovery):
    """Recover a batch of apps that do not depend on each other: one launch activity for all their machines."""

    @workflow.init
    def __init__(self, inp: GroupInput) -> None:
        self._begin_recovery(inp)

    @workflow.run
    async def run(self, inp: GroupInput) -> GroupResult:
        """Each app: hooks, launch, health, identity."""
        steps = [app for wave in inp.step.stage.waves for app in wave.apps]
        try:
            if workflow.patched(BATCHED):
                outcomes = await self._recover_batch(steps, lambda _: None)
            else:
                outcomes = await asyncio.gather(*(self._recover(step) for step in steps))
        except BaseException:
            await self._report_recovered()
            raise
        recovered = await self._hand_over()
        self._progress.state = "done"
        return GroupResult(group=inp.step.stage.group, apps=list(outcomes), steps=self._progress.steps,
                           gates=self._progress.gates, recovered=recovered)
