"""What every operation workflow shares: the plan, preconditions, stopping, recovering groups, the result."""

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from standby.contracts import attributes
    from standby.contracts.operations import AppOutcome, GroupInput, OperationInput, OperationResult, StopInput
    from standby.contracts.sites import MachineReplication, StopResult, machine_index, public_ports, runbook_slice
    from standby.contracts.state import RunbookState
    from standby.durations import format_duration
    from standby.plan import Plan
    from standby.runbook import LocalSite, Runbook
    from workflows import actions
    from workflows.group import BATCH_APPS, MAX_PARALLEL_BATCHES, MAX_RESULT_APPS, RecoverGroupWorkflow, keep_steps
    from workflows.operator import Operator
    from workflows.stop import StopAppsWorkflow

# How often an operation re-reads replication while waiting for continuous data protection.
CDP_POLL = timedelta(seconds=2)
CDP_DEADLINE = timedelta(hours=12)
LAUNCHABLE = ("continuous", "stalled")


class OperationWorkflow(Operator):
    """Base of drill, failover, failback, return and switchover."""

    OPERATION = ""
    _plan: Plan
    _runbook: Runbook
    _outcomes: list[AppOutcome]

    @workflow.init
    def __init__(self, inp: OperationInput) -> None:
        self._start_progress(inp.runbook.runbook, self.OPERATION)
        self._outcomes = []
        self._apps_total = 0
        self._stop_batches = 0

    def _begin(self, runbook: Runbook, plan: Plan) -> None:
        self._runbook, self._plan = runbook, plan
        self._progress.groups = {stage.group: "pending" for stage in plan.recover}
        self._set_state("running")

    def _set_state(self, state: str) -> None:
        self._progress.state = state
        workflow.upsert_search_attributes([attributes.STATE.value_set(state)])

    @property
    def key(self) -> str:
        """The operation key providers tag targets with: unique per run."""
        info = workflow.info()
        return f"{info.workflow_id}/{info.run_id}"

    async def _hooks(self, steps, group: str | None = None) -> None:
        context = {"runbook": self._runbook.runbook, "operation": self._plan.operation, "mode": self._plan.mode,
                   "site": self._plan.from_site, "target": self._plan.to_site, "group": group or "", "app": "",
                   "recovery_point": ""}
        for hook in steps:
            await actions.run_hook(self, self._runbook, hook.index, context)

    async def _require_replication(self, source: str, target: str, accept: tuple[str, ...]) -> list[MachineReplication]:
        """Refuse, naming each machine and why, unless every machine's replication is in an accepted phase."""
        async with self.step(f"precondition: replication {source} -> {target}") as record:
            states = await actions.replication_status(self._runbook, source, target, self._plan.apps)
            refused = [f"{s.machine}: {s.phase}" + (f" ({s.detail})" if s.detail else "")
                       for s in states if s.phase not in accept or not s.points]
            if refused:
                raise ApplicationError(
                    f"{self._plan.operation} of {self._runbook.runbook} refused: " + "; ".join(refused)
                    + " (use --force to override)", type="PreconditionFailed", non_retryable=True)
            record.detail = ", ".join(f"{s.machine}: {s.phase}" for s in states)
        return states

    def _require_tested(self, state: RunbookState) -> None:
        within = self._runbook.protection.tested_within
        if within is None:
            return
        recent = state.last_drill_time is not None and state.last_drill_time >= workflow.now() - within
        if not (recent and state.last_drill_passed):
            last = ("never drilled" if state.last_drill_time is None else
                    f"last drill {'passed' if state.last_drill_passed else 'failed'} at {state.last_drill_time:%Y-%m-%d %H:%M}Z")
            raise ApplicationError(
                f"{self._plan.operation} of {self._runbook.runbook} refused: no passing drill within "
                f"{format_duration(within)} ({last}); run `standby drill` or use --force", type="PreconditionFailed", non_retryable=True)

    async def _wait_continuous(self, source: str, target: str) -> None:
        """Wait until every machine is in continuous data protection."""
        async with self.step(f"wait for continuous data protection {source} -> {target}") as record:
            deadline = workflow.now() + CDP_DEADLINE
            while True:
                states = await actions.replication_status(self._runbook, source, target, self._plan.apps)
                waiting = actions.not_continuous(states)
                record.detail = "; ".join(waiting) or "every machine continuous"
                if not waiting:
                    return
                if workflow.now() > deadline:
                    raise ApplicationError(f"replication {source} -> {target} not continuous: {record.detail}",
                                           non_retryable=True)
                await workflow.sleep(CDP_POLL)

    async def _stop(self, site: str) -> bool:
        """Stop the plan's apps at a site in reverse order; True when anything was still running."""
        anything = False
        for wave in self._plan.stop:
            names = ", ".join(wave.apps) if len(wave.apps) <= 10 else f"{len(wave.apps)} apps"
            async with self.step(f"stop {names} on {site}", group=wave.group) as record:
                results = await self._stop_wave(site, wave.apps)
                record.detail = "; ".join(f"{r.app}: {', '.join(f'{m} {o}' for m, o in r.outcome.items())}"
                                          for r in results[:20]) + (" ..." if len(results) > 20 else "")
                anything |= any(o in ("stopped", "killed") for r in results for o in r.outcome.values())
        return anything

    async def _stop_wave(self, site: str, apps: list[str]) -> list[StopResult]:
        """A wave's apps stopped in parallel: inline when small, else in batch children."""
        if len(apps) <= BATCH_APPS:
            return list(await asyncio.gather(*(actions.stop_app(self._runbook, site, a) for a in apps)))
        chunks = [apps[i:i + BATCH_APPS] for i in range(0, len(apps), BATCH_APPS)]
        batches = asyncio.Semaphore(MAX_PARALLEL_BATCHES)

        async def batch(chunk: list[str]) -> list[StopResult]:
            async with batches:
                self._stop_batches += 1
                inp = StopInput(runbook=runbook_slice(self._runbook, chunk), site=site, apps=chunk)
                return await workflow.execute_child_workflow(
                    StopAppsWorkflow.run, inp, id=f"{workflow.info().workflow_id}/stop{self._stop_batches}",
                    static_summary=f"stop {len(chunk)} apps on {site}")

        return [r for results in await asyncio.gather(*(batch(c) for c in chunks)) for r in results]

    async def _recover(self, point: datetime | None = None, move_identity: bool | None = None) -> None:
        """Recover the plan's groups in order, each as a child workflow."""
        for stage in self._plan.recover:
            child = f"{workflow.info().workflow_id}/{stage.group}"
            self._progress.groups[stage.group], self._progress.child = "recovering", child
            apps = [a.app for w in stage.waves for a in w.apps]
            index = machine_index(self._runbook)
            inp = GroupInput(
                key=self.key, runbook=runbook_slice(self._runbook, apps), operation=self._plan.operation,
                mode=self._plan.mode, group=stage.group, from_site=self._plan.from_site, to_site=self._plan.to_site,
                apps=apps, move_identity=self._plan.move_identity if move_identity is None else move_identity,
                point=point, machine_index={m: index[m] for a in apps for m in self._runbook.apps[a].machines},
                endpoints=self._endpoints(index),
            )
            started = workflow.now()
            try:
                result = await workflow.execute_child_workflow(RecoverGroupWorkflow.run, inp, id=child,
                                                               static_summary=f"recover group {stage.group}")
            except BaseException:
                self._progress.groups[stage.group] = "failed"
                raise
            self._progress.groups[stage.group] = "recovered"
            self._progress.steps += keep_steps(result.steps, f"group {stage.group}: {len(apps)} apps", started,
                                               workflow.now())
            self._outcomes += result.apps[: MAX_RESULT_APPS - len(self._outcomes)]
            self._apps_total += result.apps_total or len(result.apps)
            self._progress.apps.update({a.app: "recovered" for a in result.apps})
        self._progress.child = None

    def _endpoints(self, index: dict[str, int]) -> dict[str, int]:
        """Ports an app's start argv reaches its peers on: public endpoints, or in a drill the peers' test targets."""
        if self._plan.mode != "test":
            return public_ports(self._runbook)
        site = self._runbook.sites[self._plan.to_site]
        base = site.test_ports_from() if isinstance(site, LocalSite) else 0
        return {name: base + index[app.machines[0]] for name, app in self._runbook.apps.items()}

    def _result(self, state: str, error: str | None = None) -> OperationResult:
        return OperationResult(
            runbook=self._runbook.runbook, operation=self._plan.operation, state=state,
            from_site=self._plan.from_site, to_site=self._plan.to_site, apps=self._outcomes,
            apps_total=self._apps_total,
            steps=self._progress.steps, approvals=self._progress.approvals, error=error,
        )

    async def _approve(self, yes: bool) -> None:
        if self._plan.approval and not yes:
            await self.wait_for_approval(self._plan.approval)
