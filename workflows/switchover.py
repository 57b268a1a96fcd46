"""Switchover: a planned role swap with no data loss, under a fencing token that only grows."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.contracts.operations import OperationInput, OperationResult
    from standby.plan import build
    from workflows import actions
    from workflows.operation import OperationWorkflow


@workflow.defn(name="Switchover")
class SwitchoverWorkflow(OperationWorkflow):
    """In sync check, approval, stop the active, drain, new fencing token, start on the passive, reverse."""

    OPERATION = "switchover"

    @workflow.run
    async def run(self, inp: OperationInput) -> OperationResult:
        """Swap the active and passive sites of the runbook."""
        runbook = inp.runbook
        state = await actions.load_state(runbook)
        plan = build(runbook, "switchover", inp.only or None, active=state.active)
        self._begin(runbook, plan)
        active, passive = plan.from_site, plan.to_site
        if not inp.force:
            await self._require_replication(active, passive, ("continuous",))
        await self._approve(inp.yes)
        await self._hooks(plan.before)
        await self._stop(active)
        async with self.step(f"drain replication {active} -> {passive}"):
            await actions.drain(runbook, active, passive, plan.apps)
        async with self.step("swap roles") as record:
            token = state.fencing_token + 1
            await actions.update_state(runbook, fencing_token=token, replicating=False)
            record.detail = f"fencing token {token}: {passive} becomes active"
        await self._recover()
        async with self.step(f"resume replication {passive} -> {active}"):
            await actions.set_direction(runbook, passive, active, running=True)
        await actions.update_state(runbook, active=passive, replication_source=passive, replication_target=active,
                                   replicating=True)
        await self._hooks(plan.after)
        self._set_state("switched_over")
        return self._result("switched_over")
