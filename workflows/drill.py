"""Drill: a non-disruptive test launch from a recovery point, always cleaned up. Replication never stops."""

import asyncio

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from standby.contracts.operations import OperationInput, OperationResult
    from standby.durations import format_duration
    from standby.plan import build
    from workflows import actions
    from workflows.operation import OperationWorkflow


@workflow.defn(name="Drill")
class DrillWorkflow(OperationWorkflow):
    """Launch test targets group by group, check them, record the result, keep them a while, clean up."""

    OPERATION = "drill"

    _finished = False

    @workflow.signal
    def finish(self) -> None:
        """End the drill now: clean up its targets."""
        self._finished = True

    @workflow.run
    async def run(self, inp: OperationInput) -> OperationResult:
        """Drill the runbook (or `only` some apps) at the site that is not serving."""
        runbook = inp.runbook
        state = await actions.load_state(runbook)
        plan = build(runbook, "drill", inp.only or None, active=state.active)
        self._begin(runbook, plan)
        if not inp.force:
            await self._require_replication(plan.from_site, plan.to_site, ("continuous",))
        await self._approve(inp.yes)
        async with self.step(f"remove previous drill targets on {plan.to_site}") as record:
            removed = await actions.terminate(runbook, plan.to_site, prefix=workflow.info().workflow_id)
            record.detail = f"{len(removed)} removed"
        try:
            await self._drill(inp)
            return self._result("passed")
        finally:
            await self._clean_up()

    async def _drill(self, inp: OperationInput) -> None:
        try:
            await self._hooks(self._plan.before)
            await self._recover(point=inp.point)
            await self._hooks(self._plan.after)
        except BaseException as error:
            # Cancelling the drill reaches us as a child-workflow or activity error caused by the cancel:
            # an aborted drill is no failed drill and must not replace the last result.
            if not is_cancelled_exception(error):
                await self._record(passed=False)
            raise
        await self._record(passed=True)
        keep = inp.keep_for if inp.keep_for is not None else self._runbook.drill.keep_for
        async with self.step("keep drill targets", detail=f"until `standby finish` or {format_duration(keep)}"):
            try:
                await workflow.wait_condition(lambda: self._finished, timeout=keep)
            except asyncio.TimeoutError:
                pass

    async def _record(self, passed: bool) -> None:
        self._set_state("passed" if passed else "failed")
        # The UI shows a drill's verdict and time at a glance, without opening its history.
        workflow.upsert_memo({"tested": {"passed": passed, "at": workflow.now().isoformat()}})
        await actions.update_state(self._runbook, last_drill_time=workflow.now(), last_drill_passed=passed,
                                   last_drill_id=workflow.info().workflow_id + "/" + workflow.info().run_id)

    async def _clean_up(self) -> None:
        """Remove this drill's targets (providers remove them in reverse launch order); also after failure and cancel."""
        async with self.step(f"clean up drill targets on {self._plan.to_site}") as record:
            removed = await actions.terminate(self._runbook, self._plan.to_site, key=self.key)
            record.detail = f"{len(removed)} removed"
