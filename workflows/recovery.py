"""Recovering apps at the target site, on the timeline of whichever workflow does it.

A RecoverGroup child, a RecoverApps batch, or the operation itself (a small group recovered inline,
workflows/group.py) each hands its Operator to an AppRecovery: the apps' steps, prompts and progress are that
workflow's, and the owner hears from it which apps now serve.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.contracts.batches import LaunchBatchInput, LaunchProgress
    from standby.contracts.operations import AppOutcome, GroupInput, StepRecord
    from standby.contracts.sites import AppRef, LaunchInput, RecoveryPoint, Target, app_ref, site_ref
    from standby.contracts.state import AppChange, StateChange
    from standby.plan_steps import AppStep, RunHook
    from workflows import actions, hooks
    from workflows.operator import Operator

# Apps of one workflow recovered at once; bounds pending activities far below Temporal's 2,000.
MAX_PARALLEL_APPS = 100
# A group (or batch) that recovered returns the apps now serving for its parent to report, instead of signalling the
# owner itself before it completes: a round trip less per group. One that fails still signals them itself.
RETURNED_RECOVERED = "returned-recovered"

# A batch's progress, and its targets app by app.
Launched = tuple[LaunchProgress, dict[str, list[Target]]]


async def _by_app(launching: Awaitable[LaunchProgress]) -> Launched:
    """The batch's progress, its targets sorted out once for all its apps (not once per app: 200 x 200)."""
    progress = await launching
    targets: dict[str, list[Target]] = {}
    for target in progress.targets:
        targets.setdefault(target.app, []).append(target)
    return progress, targets


class AppRecovery:
    """What recovering an app takes, recorded on `op`'s timeline and progress: the stage of `inp`."""

    def __init__(self, op: Operator, inp: GroupInput) -> None:
        self._op, self._inp, self._step = op, inp, inp.step
        self._slots = asyncio.Semaphore(MAX_PARALLEL_APPS)
        self.recovered: list[str] = []

    def _set(self, app: str, state: str) -> None:
        self._op._progress.apps[app] = state

    def reportable(self) -> list[str]:
        """The apps now serving at the target that the runbook's owner must hear of (a recovery's, not a drill's)."""
        return self.recovered if self._inp.owner and self._step.mode == "recovery" else []

    async def report_recovered(self) -> None:
        """Tell the runbook's owner which apps now serve at the target: also when the recovery failed halfway."""
        if self.reportable():
            change = StateChange(workflow_id=workflow.info().workflow_id,
                                 apps=[AppChange(apps=self.recovered, serving=self._step.to_site)])
            await workflow.get_external_workflow_handle(self._inp.owner).signal("report", change)

    async def hand_over(self) -> list[str]:
        """After a recovery that succeeded: the apps for the parent to report, or (histories from before) reported
        here."""
        if workflow.patched(RETURNED_RECOVERED):
            return self.reportable()
        await self.report_recovered()
        return []

    def _context(self, group: str | None, app: str | None, point: str = "") -> dict[str, str]:
        inp, step = self._inp, self._step
        return {"runbook": inp.runbook.runbook, "operation": inp.operation, "mode": step.mode, "site": step.from_site,
                "target": step.to_site, "group": group or "", "app": app or "", "recovery_point": point}

    async def hooks(self, steps: list[RunHook], point: str = "") -> None:
        """The hook steps in order, with the context of their group and app."""
        for hook in steps:
            await hooks.run_hook(self._op, self._inp.runbook, hook, self._context(hook.group, hook.app, point))

    def _app(self, name: str) -> AppRef:
        return app_ref(self._inp.runbook, name, self._inp.machine_index or None)

    async def recover(self, step: AppStep) -> AppOutcome:
        """One app, each machine its own launch activity (executions begun before batches)."""
        async with self._slots:
            to_site = self._step.to_site
            self._set(step.app, "launching")
            outcome = AppOutcome(app=step.app, group=step.group, site=to_site, started=workflow.now())
            await self.hooks(step.pre_launch)
            async with self._op.step(f"launch {step.app} on {to_site}", group=step.group, app=step.app) as rec:
                outcome.targets, outcome.point = await self._launch(step)
                rec.detail = f"from point {outcome.point.id}" if outcome.point else ""
            return await self._after_launch(step, outcome)

    async def _after_launch(self, step: AppStep, outcome: AppOutcome) -> AppOutcome:
        """Post-launch hooks, health checks, the identity move."""
        to_site = self._step.to_site
        await self.hooks(step.post_launch, outcome.point.time.isoformat() if outcome.point else "")
        self._set(step.app, "checking health")
        await self._health(step, outcome)
        outcome.healthy = workflow.now()
        if self._step.move_identity and step.endpoint:
            async with self._op.step(f"move {step.endpoint} to {to_site}", group=step.group, app=step.app):
                await actions.move_identity(self._inp.runbook, step.app, to_site, outcome.targets, self._inp.epoch)
            outcome.identity_moved = workflow.now()
        self._recovered(step)
        return outcome

    def _healthy(self, step: AppStep, outcome: AppOutcome, at: datetime | None = None) -> None:
        """An app with nothing to check or move after its launch: healthy and recovered now (or `at`)."""
        outcome.healthy = at or workflow.now()
        self._recovered(step)

    def _recovered(self, step: AppStep) -> None:
        self._set(step.app, "recovered")
        self.recovered.append(step.app)

    def plain(self, step: AppStep) -> bool:
        """Nothing runs before the app's launch, and it is healthy once launched: its launch activity may start the
        apps that depend on it (workflows/ready.py)."""
        return not step.pre_launch and self._nothing_after_launch(step)

    async def recover_batch(self, apps: list[AppStep], healthy: Callable[[str], None],
                            after: dict[str, list[str]] | None = None) -> list[AppOutcome]:
        """A batch of apps: pre-launch hooks, one launch activity for all their machines, then each app on its own
        (post-launch hooks, health, identity), `healthy(app)` called as each becomes healthy; the apps in `after`
        start in the activity once the apps of the batch they name launched."""
        for step in apps:
            self._set(step.app, "launching")
        started = workflow.now()
        await asyncio.gather(*(self.hooks(step.pre_launch) for step in apps if step.pre_launch))
        inp, plan = self._inp, self._step
        batch = LaunchBatchInput(
            key=inp.key, site=site_ref(inp.runbook, plan.to_site), source=site_ref(inp.runbook, plan.from_site),
            mode=plan.mode, apps=[self._app(step.app) for step in apps], at_or_before=plan.point,
            endpoints=inp.endpoints, places=inp.places, epoch=inp.epoch, after=after or {})
        launched = asyncio.create_task(_by_app(actions.launch_batch(batch)))
        begun = workflow.now()
        records = [self._op.begin(f"launch {step.app} on {plan.to_site}", group=step.group, app=step.app, now=begun)
                   for step in apps]
        try:
            progress, targets = await launched
        except GeneratorExit:
            # Evicted from this worker, the coroutine is collected outside the workflow's loop: nothing to record.
            raise
        except BaseException as error:
            for record in records:
                self._op.end(record, error)
            raise
        now = workflow.now()
        outcomes = [self._launched(step, started, record, progress, targets.get(step.app, []), now)
                    for step, record in zip(apps, records, strict=True)]
        # Most apps of a large batch have nothing more to do (no hooks, checks or identity): they are healthy in this
        # loop, not each in a task of its own; the others go on concurrently, in the batch's order.
        rest = []
        for step, outcome in zip(apps, outcomes, strict=True):
            if self._nothing_after_launch(step):
                # An app others of the batch started after was healthy when its launch ended, by the site's clock
                # that also says when they started.
                self._healthy(step, outcome, progress.ended.get(step.app, now))
                healthy(step.app)
            else:
                rest.append(self._after_launch_of(step, outcome, healthy))
        await asyncio.gather(*rest)
        return outcomes

    def _launched(self, step: AppStep, started: datetime, record: StepRecord, progress: LaunchProgress,
                  targets: list[Target], now: datetime) -> AppOutcome:
        """The app's outcome once its batch launched, its step on the timeline ended."""
        started = progress.began.get(step.app, started)
        outcome = AppOutcome(app=step.app, group=step.group, site=self._step.to_site, started=started, targets=targets)
        points = [progress.points[t.machine] for t in targets if t.machine in progress.points]
        # The app's moment: every machine came back from its newest point at or before it (standby.moment).
        outcome.point = min(points, key=lambda p: p.time) if points else None
        record.started = started
        record.detail = f"from point {outcome.point.id}" if outcome.point else ""
        self._op.end(record, now=now)
        return outcome

    def _nothing_after_launch(self, step: AppStep) -> bool:
        return not (step.post_launch or self._inp.runbook.apps[step.app].health
                    or (self._step.move_identity and step.endpoint))

    async def _after_launch_of(self, step: AppStep, outcome: AppOutcome, healthy: Callable[[str], None]) -> None:
        async with self._slots:
            await self._after_launch(step, outcome)
        healthy(step.app)

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
                async with self._op.step(f"health {step.app}/{target.machine}", group=step.group,
                                         app=step.app) as rec:
                    result = await actions.check_health(app, check, target)
                    rec.detail = result.detail
