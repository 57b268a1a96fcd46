"""Failback: reverse replication, then bring the apps home to the source site."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.contracts.operations import OperationInput, OperationResult
    from standby.plan import build
    from workflows import actions
    from workflows.failback_client import fail_back_outside_aws
    from workflows.operation import OperationWorkflow


@workflow.defn(name="Failback")
class FailbackWorkflow(OperationWorkflow):
    """Prepare (reverse replication, wait for CDP), approval, stop at DR, drain, recover at the source."""

    OPERATION = "failback"

    @workflow.run
    async def run(self, inp: OperationInput) -> OperationResult:
        """Fail the runbook back from its DR site to its source site."""
        runbook = inp.runbook
        plan = build(runbook, "failback", inp.only or None)
        self._begin(runbook, plan)
        async with self.step(f"reverse replication {plan.from_site} -> {plan.to_site}"):
            await actions.set_direction(runbook, plan.from_site, plan.to_site, running=True)
        await fail_back_outside_aws(self, runbook, plan.from_site, plan.to_site, plan.apps)
        await self._wait_continuous(plan.from_site, plan.to_site)
        await self._approve(inp.yes)
        await self._hooks(plan.before)
        await self._stop(plan.from_site)
        async with self.step(f"drain replication {plan.from_site} -> {plan.to_site}"):
            await actions.drain(runbook, plan.from_site, plan.to_site, plan.apps)
        await actions.set_direction(runbook, plan.from_site, plan.to_site, running=False)
        await self._recover()
        await self._hooks(plan.after)
        await actions.update_state(runbook, active=plan.to_site, replication_source=plan.from_site,
                                   replication_target=plan.to_site, replicating=False)
        self._set_state("failed_back")
        return self._result("failed_back")
