"""The five operation workflows: each loads the runbook's state, chooses its plan and runs it."""

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from standby.contracts.operations import OperationInput, OperationResult
    from standby.plan import build
    from standby.runbook import Operation
    from workflows.interpreter import PlanRunner
    from workflows.stopping import ONE_STOP, STOPPING

# A rerun removes what an interrupted run launched for the apps that serve nowhere before it launches them again.
CLEAR_INTERRUPTED = "clear-interrupted"
# ... at a site of any provider, since AWS and vSphere remove only the targets of the apps named (before: local only).
CLEAR_ANYWHERE = "clear-interrupted-anywhere"
# A rerun keeps the apps an interrupted run already recovered at its target instead of launching them again.
KEEP_RECOVERED = "keep-recovered"


class OperationWorkflow(PlanRunner):
    """Base of drill, failover, failback, return and switchover: the plan is the program."""

    OPERATION: Operation

    @workflow.init
    def __init__(self, inp: OperationInput) -> None:
        self._start_progress(inp.runbook.runbook, self.OPERATION)
        self._guard(inp.runbook, requester=inp.requested_by)
        self._finished = False

    async def _operate(self, inp: OperationInput) -> OperationResult:
        parent = workflow.info().parent
        if not inp.owner or parent is None or parent.workflow_id != inp.owner:
            # Only the runbook's owner may start an operation: it alone knows the state and runs one at a time.
            raise ApplicationError(f"{self.OPERATION} of {inp.runbook.runbook} refused: operations start through "
                                   f"the runbook's owner (`standby {self.OPERATION} RUNBOOK`)",
                                   type="Refused", non_retryable=True)
        # The plan is built here, so an operation that started before a site's stop waves became one step must
        # build the plan it ran: its history has no marker.
        one_stop = self.OPERATION in STOPPING and workflow.patched(ONE_STOP)
        # Only a run that some apps serve nowhere for plans the removal of what an interrupted run left of them.
        clear = bool(inp.down) and workflow.patched(CLEAR_INTERRUPTED)
        anywhere = clear and workflow.patched(CLEAR_ANYWHERE)
        # Likewise only a run that an interrupted run left some apps serving for.
        keep = bool(inp.serving) and workflow.patched(KEEP_RECOVERED)
        plan = build(inp.runbook, self.OPERATION, inp.only or None, active=inp.active or None, point=inp.point,
                     down=inp.down, one_stop=one_stop, clear_interrupted=clear, clear_anywhere=anywhere,
                     serving=inp.serving, keep_recovered=keep)
        self._start(inp, plan)
        return await self.run_plan()


@workflow.defn(name="Drill")
class DrillWorkflow(OperationWorkflow):
    """A non-disruptive test launch from a recovery point, always cleaned up. Replication never stops."""

    OPERATION = "drill"

    @workflow.signal
    def finish(self) -> None:
        """End the drill now: clean up its targets."""
        self._finished = True

    @workflow.run
    async def run(self, inp: OperationInput) -> OperationResult:
        """Drill the runbook (or `only` some apps) at the site that is not serving."""
        return await self._operate(inp)


@workflow.defn(name="Failover")
class FailoverWorkflow(OperationWorkflow):
    """Preconditions, approval, stop the source if it answers, recover group by group, move identities."""

    OPERATION = "failover"

    @workflow.run
    async def run(self, inp: OperationInput) -> OperationResult:
        """Fail the runbook (or `only` some apps) over to the site that is not serving."""
        return await self._operate(inp)


@workflow.defn(name="Failback")
class FailbackWorkflow(OperationWorkflow):
    """Prepare (reverse replication, wait for CDP), approval, stop at DR, drain, recover at the source."""

    OPERATION = "failback"

    @workflow.run
    async def run(self, inp: OperationInput) -> OperationResult:
        """Fail the runbook back from its DR site to its source site."""
        return await self._operate(inp)


@workflow.defn(name="ReturnToNormal")
class ReturnToNormalWorkflow(OperationWorkflow):
    """Reverse replication back to source -> target and wait for CDP."""

    OPERATION = "return"

    @workflow.run
    async def run(self, inp: OperationInput) -> OperationResult:
        """Protect the runbook again in its original direction."""
        return await self._operate(inp)


@workflow.defn(name="Switchover")
class SwitchoverWorkflow(OperationWorkflow):
    """In sync check, approval, stop the active, drain, new fencing epoch, start on the passive, reverse."""

    OPERATION = "switchover"

    @workflow.run
    async def run(self, inp: OperationInput) -> OperationResult:
        """Swap the active and passive sites of the runbook."""
        return await self._operate(inp)


# Typed loosely: each class's `run` is its own (the SDK finds it by its decorator), the base declares none.
OPERATIONS: dict[str, Any] = {
    "drill": DrillWorkflow,
    "failover": FailoverWorkflow,
    "failback": FailbackWorkflow,
    "return": ReturnToNormalWorkflow,
    "switchover": SwitchoverWorkflow,
}
