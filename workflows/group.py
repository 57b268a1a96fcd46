"""Recovery of one priority group, as a child workflow so that no history grows with the runbook.

Apps run in waves: an app starts once the apps it depends on in the group are
healthy. Each app: pre-launch hooks, launch of its machines, post-launch hooks,
health checks, then its network identity moves.
"""

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.plan import AppStep, GroupStage, build
    from standby.steps import LaunchInput, RecoveryPoint, Target, app_ref, public_ports, site_ref
    from workflows import actions
    from workflows.operator import Operator
    from workflows.types import AppOutcome, GroupInput, GroupResult

# Apps of one wave launched at once; bounds pending activities far below Temporal's 2,000.
MAX_PARALLEL_APPS = 100


@workflow.defn(name="RecoverGroup")
class RecoverGroupWorkflow(Operator):
    """Recover the apps of one group at the target site."""

    @workflow.init
    def __init__(self, inp: GroupInput) -> None:
        self._start_progress(inp.runbook.runbook, inp.operation)
        self._inp = inp
        self._slots = asyncio.Semaphore(MAX_PARALLEL_APPS)

    @workflow.run
    async def run(self, inp: GroupInput) -> GroupResult:
        """Before hooks, waves of apps, after hooks."""
        stage = self._stage()
        outcomes: list[AppOutcome] = []
        for hook in stage.before:
            await actions.run_hook(self, inp.runbook, hook.index, self._context(None))
        for wave in stage.waves:
            outcomes += await asyncio.gather(*(self._recover(app) for app in wave.apps))
        for hook in stage.after:
            await actions.run_hook(self, inp.runbook, hook.index, self._context(None))
        self._progress.state = "done"
        return GroupResult(group=inp.group, apps=outcomes, steps=self._progress.steps)

    def _stage(self) -> GroupStage:
        plan = build(self._inp.runbook, self._inp.operation, self._inp.apps)  # type: ignore[arg-type]
        return next(s for s in plan.recover if s.group == self._inp.group)

    def _context(self, app: str | None, point: str = "") -> dict[str, str]:
        inp = self._inp
        return {"runbook": inp.runbook.runbook, "operation": inp.operation, "mode": inp.mode, "site": inp.from_site,
                "target": inp.to_site, "group": inp.group, "app": app or "", "recovery_point": point}

    async def _recover(self, step: AppStep) -> AppOutcome:
        async with self._slots:
            self._progress.apps[step.app] = "launching"
            outcome = AppOutcome(app=step.app, group=step.group, site=self._inp.to_site, started=workflow.now())
            for hook in step.pre_launch:
                await actions.run_hook(self, self._inp.runbook, hook.index, self._context(step.app))
            async with self.step(f"launch {step.app} on {self._inp.to_site}", group=step.group, app=step.app) as rec:
                outcome.targets, outcome.point = await self._launch(step)
                rec.detail = f"from point {outcome.point.id}" if outcome.point else ""
            point = outcome.point.time.isoformat() if outcome.point else ""
            for hook in step.post_launch:
                await actions.run_hook(self, self._inp.runbook, hook.index, self._context(step.app, point))
            self._progress.apps[step.app] = "checking health"
            await self._health(step, outcome)
            outcome.healthy = workflow.now()
            if self._inp.move_identity and step.endpoint:
                async with self.step(f"move {step.endpoint} to {self._inp.to_site}", group=step.group, app=step.app):
                    await actions.move_identity(self._inp.runbook, step.app, self._inp.to_site, outcome.targets)
                outcome.identity_moved = workflow.now()
            self._progress.apps[step.app] = "recovered"
            return outcome

    async def _launch(self, step: AppStep) -> tuple[list[Target], RecoveryPoint | None]:
        """Launch every machine of the app from its own recovery point."""
        inp, runbook = self._inp, self._inp.runbook
        app = app_ref(runbook, step.app)
        points = await asyncio.gather(
            *(actions.recovery_point(runbook, inp.from_site, inp.to_site, m.name, inp.point) for m in app.machines)
        )
        endpoints = self._test_endpoints() if inp.mode == "test" else public_ports(runbook)
        launches = [
            actions.launch(LaunchInput(
                key=inp.key, site=site_ref(runbook, inp.to_site), source=site_ref(runbook, inp.from_site), app=app,
                machine=machine, mode=inp.mode, point=point, endpoints=endpoints,
            ))
            for machine, point in zip(app.machines, points)
        ]
        return list(await asyncio.gather(*launches)), (points[0] if points else None)

    def _test_endpoints(self) -> dict[str, int]:
        """A drill's apps talk to each other's test targets, never to production identities."""
        runbook, site = self._inp.runbook, self._inp.runbook.sites[self._inp.to_site]
        base = site.test_ports_from() if hasattr(site, "test_ports_from") else 0
        order = list(runbook.machines)
        return {name: base + order.index(app.machines[0]) for name, app in runbook.apps.items()}

    async def _health(self, step: AppStep, outcome: AppOutcome) -> None:
        app = app_ref(self._inp.runbook, step.app)
        for check in app.config.health:
            for target in outcome.targets:
                async with self.step(f"health {step.app}/{target.machine}", group=step.group, app=step.app) as rec:
                    result = await actions.check_health(app, check, target)
                    rec.detail = result.detail
