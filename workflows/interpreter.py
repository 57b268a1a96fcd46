"""The one interpreter of typed plan steps: every operation workflow runs its plan through it.

Each step is named on the timeline by its label, upserted into the memo as the current step (so the
Temporal UI and the history show the plan's steps in order), and run by the runner of its kind.
"""

import asyncio
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from standby.contracts import attributes
    from standby.contracts.gates import GateRecord
    from standby.contracts.operations import AppOutcome, GroupInput, GroupResult, OperationInput, OperationResult
    from standby.contracts.sites import machine_index, runbook_slice
    from standby.contracts.state import AppChange, DrillRecord, StateChange
    from standby.durations import format_duration
    from standby.plan import Plan
    from standby.plan_steps import (
        Approval,
        CheckReplication,
        CheckTested,
        CutOverGroup,
        Drain,
        DropWarm,
        FailbackClient,
        KeepServing,
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
    )
    from standby.runbook import Runbook
    from workflows import actions, gates, hooks, metrics
    from workflows.abort import keeping_cancel
    from workflows.draining import DrainSteps
    from workflows.failback_client import run_failback_clients
    from workflows.group import MAX_RESULT_APPS, RecoverGroupWorkflow, fits_inline, inline_group, keep_steps
    from workflows.stopping import StopSteps
    from workflows.warm import WarmSteps

# A recovery's group children carry no places (see PlanRunner._places).
SLIM_INPUTS = "slim-recovery-inputs"
# A group small enough (workflows.group.fits_inline) is recovered in the operation itself, not in a child.
INLINE_GROUPS = "inline-groups"
# A plan's last step, when it records the apps' state, is reported with the operation's end in one signal.
STATE_WITH_END = "state-with-end"
# Each report to the owner is sent once the one before it was delivered: Temporal delivers two signals in flight at
# once in either order, and a direction's report (phase interrupted) arriving after the final state left the apps
# interrupted though the operation had ended.
REPORTS_IN_ORDER = "reports-in-order"
# How often an operation re-reads replication while waiting for continuous data protection.
CDP_POLL = timedelta(seconds=2)
CDP_DEADLINE = timedelta(hours=12)


class PlanRunner(WarmSteps, StopSteps, DrainSteps):
    """Runs a plan's steps in order (in a task `abort` cancels), then `on_failure` if one failed (not on abort),
    then `always`."""

    _plan: Plan
    _runbook: Runbook
    _inp: OperationInput

    def _start(self, inp: OperationInput, plan: Plan) -> None:
        self._inp, self._runbook, self._plan = inp, inp.runbook, plan
        self._outcomes: list[AppOutcome] = []
        self._apps_total = 0
        self._stopped_any = False
        self._unreachable: dict[str, str] = {}
        self._fenced: list[str] = []
        self._stop_batches = 0
        self._reports: list[asyncio.Task[None]] = []
        self._last_report: asyncio.Task[None] | None = None
        self._with_end: list[AppChange] = []
        self._finished = False
        self._begin_warm()
        self._progress.groups = {stage.group: "pending" for stage in plan.stages()}
        self._progress.evidence = inp.evidence
        self._set_state("running")
        self._record(*inp.gates)

    def _set_state(self, state: str) -> None:
        self._progress.state = state
        workflow.upsert_search_attributes([attributes.STATE.value_set(state)])

    async def run_plan(self) -> OperationResult:
        """Every step in order; the result names the plan's outcome, or `cancelled` after `standby abort`.
        The owner hears how it ended first."""
        ended, evicted = "failed", False
        try:
            ended = await self._unless_aborted(self._run_steps(), self._plan.outcome)
        except GeneratorExit:
            # Evicted from this worker, the coroutine is collected outside the workflow's loop: nothing may run or
            # be reported here (awaiting would ignore the GeneratorExit); the run goes on where it is replayed.
            evicted = True
            raise
        except BaseException as error:
            cancelled = is_cancelled_exception(error)
            ended = "cancelled" if cancelled else f"failed: {_reason(error)}"
            if not cancelled:
                for step in self._plan.on_failure:
                    await self._run_step(step)
            self._set_state("cancelled" if cancelled else "failed")
            raise
        finally:
            if not evicted:
                await self._end(ended)
        self._set_state(ended)
        return self._result(ended)

    async def _end(self, ended: str) -> None:
        """The always-steps, every report delivered, then the owner told how the operation ended."""
        for step in self._plan.always:
            await self._run_step(step)
        await asyncio.gather(*self._reports)
        if self._last_report is not None:
            # Every report delivered, in order; one that failed raised where it was awaited.
            await asyncio.gather(self._last_report, return_exceptions=True)
        # Delivered before this workflow closes, so a request that follows its result finds the runbook free.
        # The owner's history says who aborted, too.
        how = ended if self._aborted is None else f"{ended}, {self._aborted.describe()}"
        await workflow.get_external_workflow_handle(self._inp.owner).signal(
            "report", StateChange(workflow_id=workflow.info().workflow_id, apps=self._with_end, finished=how))
        metrics.record_operation(self._plan.runbook, self._plan.operation, ended,
                                 workflow.now() - workflow.info().start_time)

    async def _run_steps(self) -> None:
        steps = self._plan.steps
        fused = False
        for step, following in zip(steps, [*steps[1:], None], strict=True):
            if fused:
                fused = False
            elif fused := self._fuses(step, following):
                assert isinstance(step, Drain) and isinstance(following, SetDirection)
                await self._drain_then_direction(step, following)
            else:
                await self._run_step(step)

    def _report(self, *apps: AppChange, drill: DrillRecord | None = None) -> Coroutine[Any, Any, None]:
        """Tell the runbook's owner what a step changed, as it changes, so an abort leaves a true state: after every
        report asked for before this one (in the order of the calls, whenever each is awaited)."""
        change = StateChange(workflow_id=workflow.info().workflow_id, apps=list(apps), drill=drill)
        if not workflow.patched(REPORTS_IN_ORDER):
            return keeping_cancel(self._signal_owner(change))
        self._last_report = asyncio.create_task(self._signal_owner(change, self._last_report))
        return keeping_cancel(self._last_report)

    async def _signal_owner(self, change: StateChange, after: asyncio.Task[None] | None = None) -> None:
        if after is not None:
            # Only its order: a report that failed is its own caller's failure.
            await asyncio.gather(after, return_exceptions=True)
        await workflow.get_external_workflow_handle(self._inp.owner).signal("report", change)

    async def _run_step(self, step: Step) -> None:
        # The memo names the step now running: the UI shows it, and the history lists the plan's steps in order.
        workflow.upsert_memo({"step": step.label()})
        await _RUNNERS[type(step)](self, step)  # type: ignore[operator]  # each runner takes its own step type

    def _context(self, group: str | None = None, app: str | None = None) -> dict[str, str]:
        plan = self._plan
        return {"runbook": plan.runbook, "operation": plan.operation, "mode": plan.mode, "site": plan.from_site,
                "target": plan.to_site, "group": group or "", "app": app or "", "recovery_point": ""}

    async def _check_replication(self, step: CheckReplication) -> None:
        async with self.step(step.label()) as record:
            if self._inp.force:
                record.status, record.detail = "skipped", self._skipped("--force", "force")
                return
            states = await actions.replication_status(self._runbook, step.source, step.target, self._plan.apps,
                                                      step.label())
            refused = [f"{s.machine}: {s.phase}" + (f" ({s.detail})" if s.detail else "")
                       for s in states if s.phase not in step.accept or not s.points]
            if refused:
                raise ApplicationError(f"{self._plan.operation} of {self._plan.runbook} refused: " + "; ".join(refused)
                                       + " (use --force to override)", type="PreconditionFailed", non_retryable=True)
            record.detail = ", ".join(f"{s.machine}: {s.phase}" for s in states[:50])

    async def _check_tested(self, step: CheckTested) -> None:
        async with self.step(step.label()) as record:
            if self._inp.force:
                record.status, record.detail = "skipped", self._skipped("--force", "force")
                return
            drill = self._inp.last_drill
            if drill is None or not drill.passed or drill.time < workflow.now() - step.within:
                last = ("never drilled" if drill is None else
                        f"last drill {'passed' if drill.passed else 'failed'} at {drill.time:%Y-%m-%d %H:%M}Z")
                raise ApplicationError(
                    f"{self._plan.operation} of {self._plan.runbook} refused: no passing drill within "
                    f"{format_duration(step.within)} ({last}); run `standby drill` or use --force",
                    type="PreconditionFailed", non_retryable=True)
            record.detail = f"last drill passed at {drill.time:%Y-%m-%d %H:%M}Z"

    async def _gate(self, step: Approval) -> None:
        if self._inp.yes:
            async with self.step(step.label()) as record:
                record.status, record.detail = "skipped", self._skipped("--yes", "skip_approval")
                record.gate = self._gate_record("skip_approval")
            return
        await self.wait_for_approval(step.who, step.label())

    def _gate_record(self, gate: str) -> GateRecord | None:
        """The owner's record of the request's gate, if it passed one (operations started before gates had none)."""
        return next((r for r in self._inp.gates if r.gate == gate and r.allowed), None)

    def _skipped(self, flag: str, gate: str) -> str:
        """`skipped: --force by alice (verified by the directory, from laptop-7)`."""
        record = self._gate_record(gate)
        return f"skipped: {flag}" + (f" by {record.who()}" if record else "")

    async def _hook(self, step: RunHook) -> None:
        await hooks.run_hook(self, self._runbook, step, self._context(step.group, step.app))

    async def _wait_continuous(self, step: WaitContinuous) -> None:
        async with self.step(step.label()) as record:
            deadline = workflow.now() + CDP_DEADLINE
            while True:
                states = await actions.replication_status(self._runbook, step.source, step.target, step.apps,
                                                          step.label())
                waiting = actions.not_continuous(states)
                record.detail = "; ".join(waiting[:20]) or "every machine continuous"
                if not waiting:
                    return
                if workflow.now() > deadline:
                    raise ApplicationError(f"replication {step.source} -> {step.target} not continuous: "
                                           f"{record.detail}", non_retryable=True)
                await workflow.sleep(CDP_POLL)

    async def _failback_client(self, step: FailbackClient) -> None:
        async with self.step(step.label()) as record:
            record.detail = await run_failback_clients(self._runbook, step)

    async def _recover_group(self, step: RecoverGroup) -> None:
        stage = step.stage
        apps = stage.apps()
        index = machine_index(self._runbook)
        inp = GroupInput(key=self.key, runbook=runbook_slice(self._runbook, apps), operation=self._plan.operation,
                         step=step, owner=self._inp.owner, epoch=self._inp.epoch,
                         machine_index={m: index[m] for a in apps for m in self._runbook.apps[a].machines},
                         endpoints=self._plan.endpoints, places=self._places())
        self._progress.groups[stage.group] = "recovering"
        try:
            if workflow.patched(INLINE_GROUPS) and fits_inline(inp):
                result = await inline_group(self, inp)
            else:
                result = await self._group_child(step, inp)
        except BaseException:
            self._progress.groups[stage.group] = "failed"
            raise
        self._progress.groups[stage.group] = "recovered"
        if result.recovered:
            # An inline group, or a child whose history has its `returned-recovered` marker, returns them (the others
            # told the owner themselves): the owner hears of them while the next group starts, before any later report.
            serving = AppChange(apps=result.recovered, serving=step.to_site)
            self._reports.append(asyncio.create_task(self._report(serving)))
        self._outcomes += result.apps[: MAX_RESULT_APPS - len(self._outcomes)]
        self._apps_total += result.apps_total or len(result.apps)
        self._progress.apps.update({a.app: "recovered" for a in result.apps})

    async def _group_child(self, step: RecoverGroup, inp: GroupInput) -> GroupResult:
        """The group in a RecoverGroup child (`progress.child` while it runs: `standby continue` answers its
        prompts); its steps and gates copied onto this timeline."""
        child = f"{workflow.info().workflow_id}/{step.stage.group}"
        self._progress.child = child
        started = workflow.now()
        result = await workflow.execute_child_workflow(RecoverGroupWorkflow.run, inp, id=child,
                                                       static_summary=step.label())
        if result.gates:
            self._progress.gates += result.gates
            gates.memo(self._progress.gates)
        self._progress.steps += keep_steps(result.steps, f"group {step.stage.group}: {len(inp.step.stage.apps())} "
                                           "apps", started, workflow.now())
        self._progress.child = None
        return result

    def _places(self) -> dict[str, int]:
        """Every app's place, for a drill's targets to find their peers' (activities/sites/local); a recovery
        reaches its peers through their endpoints, so its children and batches carry none (10,000 apps' worth)."""
        if self._plan.mode == "test" or not workflow.patched(SLIM_INPUTS):
            return self._plan.places
        return {}

    async def _record_state(self, step: RecordState) -> None:
        async with self.step(step.label()) as record:
            change = AppChange(apps=self._plan.apps, phase=step.phase, serving=step.serving, source=step.source,
                               target=step.target, replicating=step.replicating, home=step.home)
            if step is self._plan.steps[-1] and not self._plan.always and workflow.patched(STATE_WITH_END):
                # Nothing runs between the last step and the end: the owner hears both in one signal.
                self._with_end.append(change)
            else:
                await self._report(change)
            if self._fenced:
                record.detail = "fenced (could not be stopped in time): " + "; ".join(self._fenced[:20])

    async def _remove_targets(self, step: RemoveTargets) -> None:
        async with self.step(step.label()) as record:
            if step.scope == "previous":
                removed = await actions.terminate(self._runbook, step.site, step.label(),
                                                  prefix=workflow.info().workflow_id)
            elif step.scope == "earlier failover":
                removed = await actions.terminate(self._runbook, step.site, step.label(),
                                                  prefix=f"{self._inp.owner}/failover/", recovery=True)
            elif step.scope == "interrupted":
                # Earlier runs of this operation share its workflow ID; this run has launched nothing yet.
                removed = await actions.terminate(self._runbook, step.site, step.label(),
                                                  prefix=f"{workflow.info().workflow_id}/", recovery=True,
                                                  apps=step.apps)
            else:
                removed = await actions.terminate(self._runbook, step.site, step.label(), key=self.key)
            record.detail = f"{len(removed)} removed"

    async def _keep_serving(self, step: KeepServing) -> None:
        async with self.step(step.label(), detail=step.skips()):
            self._progress.apps.update(dict.fromkeys(step.apps, "recovered"))

    async def _record_drill(self, step: RecordDrill) -> None:
        async with self.step(step.label()):
            self._set_state("passed" if step.passed else "failed")
            # The UI shows a drill's verdict and time at a glance, without opening its history.
            workflow.upsert_memo({"tested": {"passed": step.passed, "at": workflow.now().isoformat()}})
            info = workflow.info()
            await self._report(drill=DrillRecord(time=workflow.now(), passed=step.passed, apps=self._plan.apps,
                                                 forced=self._inp.force,
                                                 workflow_id=f"{info.workflow_id}/{info.run_id}"))

    async def _keep_targets(self, step: KeepTargets) -> None:
        keep = self._inp.keep_for if self._inp.keep_for is not None else step.keep_for
        async with self.step(step.label(), detail=f"until `standby finish` or {format_duration(keep)}"):
            try:
                await workflow.wait_condition(lambda: self._finished, timeout=keep)
            except TimeoutError:
                pass

    def _result(self, state: str, error: str | None = None) -> OperationResult:
        return OperationResult(
            runbook=self._plan.runbook, operation=self._plan.operation, state=state,
            from_site=self._plan.from_site, to_site=self._plan.to_site, apps=self._outcomes,
            apps_total=self._apps_total, steps=self._progress.steps, approvals=self._progress.approvals,
            gates=self._progress.gates, error=error, evidence=self._inp.evidence,
        )


_RUNNERS = {
    CheckReplication: PlanRunner._check_replication, CheckTested: PlanRunner._check_tested,
    Approval: PlanRunner._gate, RunHook: PlanRunner._hook, StopApps: PlanRunner._stop,
    StopWaves: PlanRunner._stop_waves, Drain: PlanRunner._drain,
    SetDirection: PlanRunner._set_direction, WaitContinuous: PlanRunner._wait_continuous,
    FailbackClient: PlanRunner._failback_client, RecoverGroup: PlanRunner._recover_group,
    RecordState: PlanRunner._record_state, RemoveTargets: PlanRunner._remove_targets,
    KeepServing: PlanRunner._keep_serving,
    RecordDrill: PlanRunner._record_drill, KeepTargets: PlanRunner._keep_targets, WarmGroup: PlanRunner._warm_group,
    CutOverGroup: PlanRunner._cut_over, DropWarm: PlanRunner._drop_warm,
}


def _reason(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return error.message if isinstance(error, ApplicationError) else str(error) or type(error).__name__
