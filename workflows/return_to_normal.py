"""Return to normal: replication back in its original direction, until continuous data protection."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.contracts.operations import OperationInput, OperationResult
    from standby.plan import build
    from workflows import actions
    from workflows.operation import OperationWorkflow


@workflow.defn(name="ReturnToNormal")
class ReturnToNormalWorkflow(OperationWorkflow):
    """Reverse replication back to source -> target and wait for CDP."""

    OPERATION = "return"

    @workflow.run
    async def run(self, inp: OperationInput) -> OperationResult:
        """Protect the runbook again in its original direction."""
        runbook = inp.runbook
        plan = build(runbook, "return", inp.only or None)
        self._begin(runbook, plan)
        source, target = runbook.protection.source, runbook.protection.target
        await self._approve(inp.yes)
        await self._hooks(plan.before)
        async with self.step(f"reverse replication back: {source} -> {target}"):
            await actions.set_direction(runbook, source, target, running=True)
        await actions.update_state(runbook, replication_source=source, replication_target=target, replicating=True)
        await self._wait_continuous(source, target)
        await self._hooks(plan.after)
        self._set_state("normal")
        return self._result("normal")
