"""Failover: recover the runbook's apps at the DR site from a recovery point."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.contracts.operations import OperationInput, OperationResult
    from standby.plan import build
    from workflows import actions
    from workflows.operation import LAUNCHABLE, OperationWorkflow


@workflow.defn(name="Failover")
class FailoverWorkflow(OperationWorkflow):
    """Preconditions, approval, stop the source if it answers, recover group by group, move identities."""

    OPERATION = "failover"

    @workflow.run
    async def run(self, inp: OperationInput) -> OperationResult:
        """Fail the runbook (or `only` some apps) over to the site that is not serving."""
        runbook = inp.runbook
        state = await actions.load_state(runbook)
        plan = build(runbook, "failover", inp.only or None, active=state.active)
        self._begin(runbook, plan)
        if not inp.force:
            # A source that died leaves replication stalled: its points are still launchable.
            await self._require_replication(plan.from_site, plan.to_site, LAUNCHABLE)
            self._require_tested(state)
        await self._approve(inp.yes)
        await self._hooks(plan.before)
        if await self._stop(plan.from_site):
            async with self.step(f"drain replication {plan.from_site} -> {plan.to_site}"):
                await actions.drain(runbook, plan.from_site, plan.to_site, plan.apps)
        await actions.set_direction(runbook, plan.from_site, plan.to_site, running=False)
        await self._recover(point=inp.point)
        await self._hooks(plan.after)
        await actions.update_state(runbook, active=plan.to_site, replicating=False)
        self._set_state("failed_over")
        return self._result("failed_over")
