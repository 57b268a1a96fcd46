"""The interpreter's stop steps: a site's waves in one activity (StopWaves), or a wave, or a warm switchover's source
in order (StopApps); what could not be stopped in time is fenced, and the owner hears which apps are down."""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.contracts.operations import OperationInput, Progress, StepRecord, StopInput
    from standby.contracts.sites import StopResult, runbook_slice
    from standby.contracts.state import AppChange
    from standby.contracts.stops import WavesProgress, unreached
    from standby.plan import Plan
    from standby.plan_steps import StopApps, StopWaves
    from standby.runbook import Runbook
    from workflows.group import BATCH_APPS, MAX_PARALLEL_BATCHES
    from workflows.operator import Operator
    from workflows.stop import BATCHED_STOP, StopAppsWorkflow, stop_in_batches, stop_or_fence, stop_waves

# Shown by `standby plan` since a site's stop waves became one step: an operation that started before runs a step
# (and an activity) per wave, as its history says.
ONE_STOP = "one-stop-activity"
# The operations whose plans stop a site's waves.
STOPPING = ("failover", "failback", "switchover")
# Apps a stop's record on the timeline describes one by one.
DETAILED = 20


class StopSteps(Operator):
    """Mixin of the plan's interpreter: its stop steps and what they leave for the later steps."""

    _inp: OperationInput
    _runbook: Runbook
    _plan: Plan
    _progress: Progress
    _stopped_any: bool
    _unreachable: dict[str, str]
    _fenced: list[str]
    _stop_batches: int
    _reports: list[asyncio.Task[None]]
    _report: Callable[..., Coroutine[Any, Any, None]]

    async def _stop_waves(self, step: StopWaves) -> None:
        """The waves in one activity; each wave a step on the timeline, from the activity's own record of it."""
        self._progress.current = step.label()
        cancelled = False
        if step.site in self._inp.lost:
            # As `_stop` says: the monitor saw the site's lease run out.
            progress = WavesProgress(results=self._fence_all(step.site, step.apps(), "lease ran out: site lost"))
        elif step.site in self._unreachable:
            progress = WavesProgress(results=self._fence_all(
                step.site, step.apps(), f"the site did not answer: {self._unreachable[step.site]}"))
        else:
            progress, cancelled = await stop_waves(self._runbook, step, self._runbook.protection.stop_deadline)
        if progress.unreachable:
            self._unreachable.setdefault(step.site, progress.unreachable)
        self._waves_on_timeline(step, progress, cancelled)
        if progress.results or progress.stopped:
            self._stopped_any |= bool(progress.stopped)
            self._report_later(self._stopped(progress.apps(), progress.results))
        if cancelled:
            raise asyncio.CancelledError

    def _waves_on_timeline(self, step: StopWaves, progress: WavesProgress, cancelled: bool) -> None:
        """A record per wave: when the activity began and ended it; aborted, the waves it reached."""
        now, by_app, stopped = workflow.now(), {r.app: r for r in progress.results}, set(progress.stopped)
        for number, wave in enumerate(step.waves):
            began = progress.waves[number] if number < len(progress.waves) else None
            if began is None and cancelled:
                break
            shown = [a for a in wave.apps if a in by_app or a in stopped][:DETAILED + 1]
            record = StepRecord(name=wave.label(), group=wave.group, started=began.started if began else now,
                                ended=began.ended if began and began.ended else now, status="done",
                                detail=_detail([by_app.get(a) or self._stopped_result(step.site, a) for a in shown]))
            if began is not None and began.ended is None and cancelled:
                record.status = "cancelled"
            self._progress.steps.append(record)

    async def _stop(self, step: StopApps) -> None:
        async with self.step(step.label(), group=step.group) as record:
            # The protect monitor saw the site's lease run out: it stopped serving by itself, or is gone. Only an
            # input of the monitor's time names a lost site; the patch marks the histories that skip the stop.
            if step.site in self._inp.lost and workflow.patched("lost-site"):
                results = self._fence_all(step.site, step.apps, "lease ran out: site lost")
            else:
                results = await self._stop_apps(step.site, step.apps, step.label(), step.in_order)
            record.detail = _detail(results)
            if results and unreached(results):
                self._unreachable.setdefault(step.site, f"{step.label()} could not reach it")
            report = self._stopped(step.apps, results)
            if workflow.patched(BATCHED_STOP):
                self._report_later(report)
            else:
                await report

    def _stopped_result(self, site: str, app: str) -> StopResult:
        """The result of an app the activity named as stopped (WavesProgress.stopped)."""
        return StopResult(app=app, site=site, outcome=dict.fromkeys(self._runbook.apps[app].machines, "stopped"))

    def _fence_all(self, site: str, apps: list[str], reason: str) -> list[StopResult]:
        fenced = f"fenced ({reason})"
        return [StopResult(app=a, site=site, outcome=dict.fromkeys(self._runbook.apps[a].machines, fenced))
                for a in apps]

    def _stopped(self, apps: list[str], results: list[StopResult]) -> Coroutine[Any, Any, None]:
        """Note what the later steps need of a stop (anything stopped, what was fenced); the owner's report that the
        apps are down, for the caller to send."""
        self._stopped_any |= any(o in ("stopped", "killed") for r in results for o in r.outcome.values())
        self._fenced += [f"{r.app}/{m}: {o}" for r in results for m, o in r.outcome.items() if o.startswith("fenced")]
        return self._report(AppChange(apps=apps, down=True, phase="interrupted", interrupted_by=self._plan.operation))

    def _report_later(self, report: Coroutine[Any, Any, None]) -> None:
        """The owner hears it while the next step runs, a round trip less a step: signals to one workflow arrive in
        the order they were sent, and every one is delivered before the operation's end."""
        self._reports.append(asyncio.create_task(report))

    async def _stop_apps(self, site: str, apps: list[str], label: str, in_order: bool = False) -> list[StopResult]:
        """A wave's apps stopped in parallel, in batches of machines (before batches: inline when small, else in
        batch children)."""
        if site in self._unreachable:
            return self._fence_all(site, apps, f"the site did not answer: {self._unreachable[site]}")
        if in_order:
            # Only warm switchovers stop in order, and they came after batches: no marker to look for.
            return await stop_in_batches(self._runbook, site, apps, self._runbook.protection.stop_deadline, True)
        if workflow.patched(BATCHED_STOP):
            return await stop_in_batches(self._runbook, site, apps, self._runbook.protection.stop_deadline)
        if len(apps) <= BATCH_APPS:
            deadline = self._runbook.protection.stop_deadline
            return list(await asyncio.gather(*(stop_or_fence(self._runbook, site, a, deadline) for a in apps)))
        chunks = [apps[i:i + BATCH_APPS] for i in range(0, len(apps), BATCH_APPS)]
        batches = asyncio.Semaphore(MAX_PARALLEL_BATCHES)

        async def batch(chunk: list[str]) -> list[StopResult]:
            async with batches:
                self._stop_batches += 1
                inp = StopInput(runbook=runbook_slice(self._runbook, chunk), site=site, apps=chunk,
                                deadline=self._runbook.protection.stop_deadline)
                return await workflow.execute_child_workflow(
                    StopAppsWorkflow.run, inp, id=f"{workflow.info().workflow_id}/stop{self._stop_batches}",
                    static_summary=f"{label}: {len(chunk)} apps")

        return [r for results in await asyncio.gather(*(batch(c) for c in chunks)) for r in results]


def _detail(results: list[StopResult]) -> str:
    """`web: web1 stopped; api: app1 fenced (...)`, the first DETAILED apps."""
    return "; ".join(f"{r.app}: {', '.join(f'{m} {o}' for m, o in r.outcome.items())}"
                     + (f" by {r.provider}" if r.provider else "") for r in results[:DETAILED]) + (
        " ..." if len(results) > DETAILED else "")
