"""The steps of a warm switchover (standby.warm), run by the plan's interpreter, inline: no child workflow starts.

Before the source stops, each group is started warm; after it stopped and drained, each group is cut over in one
activity per group (two, with a post-launch hook between promote and health). The owner hears which apps serve at
the target as each group is cut over; what was started and not cut over is stopped in the plan's `always`.
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.contracts.batches import LaunchBatchInput, LaunchProgress
    from standby.contracts.operations import AppOutcome, OperationInput
    from standby.contracts.sites import Target, app_ref, machine_index, site_ref
    from standby.contracts.state import AppChange
    from standby.contracts.warm import CutOverInput, CutOverProgress
    from standby.plan import Plan
    from standby.plan_steps import AppStep, CutOverGroup, DropWarm, GroupStage, RunHook, WarmGroup
    from standby.runbook import Runbook
    from workflows import actions, hooks
    from workflows.abort import Abortable


class WarmSteps(Abortable):
    """The runners of WarmGroup, CutOverGroup and DropWarm, for the plan's interpreter."""

    _plan: Plan
    _runbook: Runbook
    _inp: OperationInput
    _outcomes: list[AppOutcome]
    _reports: list[asyncio.Task[None]]
    _report: Callable[..., Coroutine[Any, Any, None]]

    @property
    def key(self) -> str:
        """The operation key providers tag targets with: unique per run."""
        info = workflow.info()
        return f"{info.workflow_id}/{info.run_id}"

    def _begin_warm(self) -> None:
        self._warm: list[Target] = []
        self._warmed = False
        self._cut: list[str] = []

    async def _warm_hooks(self, steps: list[RunHook], point: str = "") -> None:
        plan = self._plan
        for step in steps:
            context = {"runbook": plan.runbook, "operation": plan.operation, "mode": plan.mode, "site": plan.from_site,
                       "target": plan.to_site, "group": step.group or "", "app": step.app or "",
                       "recovery_point": point}
            await hooks.run_hook(self, self._runbook, step, context)

    def _batch(self, stage: GroupStage, from_site: str, to_site: str, apps: list[str]) -> LaunchBatchInput:
        runbook, index = self._runbook, machine_index(self._runbook)
        return LaunchBatchInput(key=self.key, site=site_ref(runbook, to_site), source=site_ref(runbook, from_site),
                                mode="recovery", apps=[app_ref(runbook, app, index) for app in apps],
                                endpoints=self._plan.endpoints, places=self._plan.places, epoch=self._inp.epoch)

    async def _warm_group(self, step: WarmGroup) -> None:
        stage, apps = step.stage, _apps(step.stage)
        self._progress.groups[stage.group] = "warming"
        await self._warm_hooks(stage.before)
        for app in apps:
            await self._warm_hooks(app.pre_launch)
        self._warmed = True
        async with self.step(step.label(), group=stage.group) as record:
            started = await actions.start_warm(self._batch(stage, step.from_site, step.to_site, stage.apps()))
            record.detail = "; ".join(f"{t.app}/{t.machine} on port {t.port}" for t in started.targets[:20])
        self._warm += started.targets
        for app in (a for a in apps if a.app not in step.standby):
            await self._warm_hooks(app.post_launch, _point(started, app))
            for check in self._runbook.apps[app.app].health:
                for target in (t for t in started.targets if t.app == app.app):
                    async with self.step(f"health {app.app}/{target.machine}", group=stage.group, app=app.app) as rec:
                        rec.detail = (await actions.check_health(app_ref(self._runbook, app.app), check,
                                                                 target)).detail
        self._progress.groups[stage.group] = "warm"

    async def _cut_over(self, step: CutOverGroup) -> None:
        stage, apps = step.stage, _apps(step.stage)
        self._progress.groups[stage.group] = "cutting over"
        hooked = [app for app in apps if app.app in step.standby and app.post_launch]
        if hooked:
            async with self.step(f"promote {', '.join(a.app for a in hooked)} on {step.to_site}", group=stage.group):
                promoted = await actions.cut_over(self._cut_input(step, [a.app for a in hooked], move=False))
            for app in hooked:
                await self._warm_hooks(app.post_launch, _point(promoted, app))
        started = workflow.now()
        async with self.step(step.label(), group=stage.group) as record:
            done = await actions.cut_over(self._cut_input(step, stage.apps(), move=True))
            record.detail = "; ".join(f"{app}: {what}" for app, what in list(done.done.items())[:20])
        self._cut += stage.apps()
        # The owner hears it while the next group cuts over: signals arrive in order, all before the operation ends.
        self._reports.append(asyncio.create_task(self._report(AppChange(apps=stage.apps(), serving=step.to_site))))
        self._outcomes += [AppOutcome(app=a, group=stage.group, site=step.to_site, started=started,
                                      targets=[t for t in done.targets if t.app == a], healthy=workflow.now(),
                                      identity_moved=workflow.now()) for a in stage.apps()]
        self._progress.apps.update(dict.fromkeys(stage.apps(), "recovered"))
        await self._warm_hooks(stage.after)
        self._progress.groups[stage.group] = "recovered"

    def _cut_input(self, step: CutOverGroup, apps: list[str], move: bool) -> CutOverInput:
        batch = self._batch(step.stage, step.from_site, step.to_site, apps)
        return CutOverInput(**{**dict(batch), "at_or_before": step.point}, move=move,
                            targets=[t for t in self._warm if t.app in apps],
                            peers=[site_ref(self._runbook, s) for s in self._runbook.sites if s != step.to_site])

    async def _drop_warm(self, step: DropWarm) -> None:
        left = [app for app in self._plan.apps if app not in self._cut]
        async with self.step(step.label()) as record:
            if not self._warmed or not left:
                record.status, record.detail = "skipped", "nothing started warm is left"
                return
            removed = await actions.terminate(self._runbook, step.site, step.label(), key=self.key, apps=left)
            record.detail = f"{len(removed)} stopped: {', '.join(removed[:20])}"


def _apps(stage: GroupStage) -> list[AppStep]:
    return [app for wave in stage.waves for app in wave.apps]


def _point(done: LaunchProgress | CutOverProgress, app: AppStep) -> str:
    """The app's moment, for its post-launch hooks: the oldest point its machines came back from."""
    points = [done.points[m] for m in app.machines if m in done.points]
    return min(points, key=lambda p: p.time).time.isoformat() if points else ""
