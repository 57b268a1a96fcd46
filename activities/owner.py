"""Activities that talk to Temporal itself: a scheduled drill asks the runbook's owner, then waits for its drill.

They are methods of a class built with a Temporal client (samples-python's activity-with-client pattern): the
worker's own connection serves them, and a test gives them its server's.
"""

from collections.abc import Awaitable, Callable

from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError, CancelledError, TerminatedError
from temporalio.service import RPCError, RPCStatusCode

from activities.hooks import heartbeating
from standby import client as temporal
from standby import views
from standby.config import Settings
from standby.contracts import names
from standby.contracts.operations import OperationResult
from standby.contracts.programme import DrillAsk, DrillAsked, DrillOutcome
from standby.contracts.protect import OwnerStatus
from standby.contracts.state import OperationRequest
from standby.runbook import Runbook


class OwnerActivities:
    """Drills asked of runbooks' owners on behalf of a schedule, through `client` and the queue of `settings`."""

    def __init__(self, client: Client, settings: Settings):
        self.client, self.settings = client, settings

    @activity.defn(name=names.REQUEST_DRILL)
    async def request_drill(self, ask: DrillAsk) -> DrillAsked:
        """Ask the owner for a drill of the runbook it holds (Update-with-Start); a retry finds the drill it started."""
        owner = self.client.get_workflow_handle(temporal.owner_id(ask.runbook))
        try:
            runbook = await owner.query("runbook", result_type=Runbook)
            status = await owner.query("status", result_type=OwnerStatus)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            raise ApplicationError(f"runbook {ask.runbook} has no owner workflow ({owner.id}), so nothing protects it; "
                                   "protect it with `standby protect RUNBOOK_FILE`", type="NotProtected",
                                   non_retryable=True) from None
        running = status.truth.operation
        if running is not None and running.requested_by == ask.requested_by:
            ident = running.workflow_id
        else:
            request = OperationRequest(operation="drill", runbook=runbook, only=ask.only, keep_for=ask.keep_for,
                                       yes=True, requested_by=ask.requested_by)
            try:
                ident = (await temporal.start(self.client, self.settings, request)).workflow_id
            except temporal.Refused as refused:
                return DrillAsked(runbook=runbook, refused=str(refused))
        described = await self.client.get_workflow_handle(ident).describe()
        return DrillAsked(runbook=runbook, workflow_id=ident, run_id=described.run_id)

    @activity.defn(name=names.AWAIT_DRILL)
    async def await_drill(self, asked: DrillAsked) -> DrillOutcome:
        """Wait (heartbeating) for the drill's run to end; how it ended."""
        ident = asked.workflow_id or ""
        handle = self.client.get_workflow_handle(ident, run_id=asked.run_id, result_type=OperationResult)
        try:
            result = await heartbeating(handle.result(follow_runs=False), lambda s: f"waiting for {ident}: {s:.0f}s")
        except WorkflowFailureError as error:
            state = {CancelledError: "cancelled", TerminatedError: "terminated"}.get(type(error.cause), "failed")
            return DrillOutcome(workflow_id=ident, state=state, passed=False, reason=views.reason(error))
        passed = result.state == "passed"
        return DrillOutcome(workflow_id=ident, state=result.state, passed=passed,
                            reason="" if passed else result.error or f"it ended {result.state}")

    def all(self) -> list[Callable[..., Awaitable[object]]]:
        """Both activities, for the worker."""
        return [self.request_drill, self.await_drill]
