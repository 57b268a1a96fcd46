"""Workflow runs read from Temporal's API itself: their status by name, also one the SDK does not know.

The SDK's WorkflowExecutionStatus (1.35) has no PAUSED (8): its describe() and list_workflows() raise ValueError on
a paused workflow, and so does a query of one. These helpers read the API's own enum, which names every status the
server sends, so that `standby status`, reports and `follow` show a paused operation instead of failing.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus as RawStatus
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest, ListWorkflowExecutionsRequest
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.converter import decode_typed_search_attributes

from standby.contracts import attributes
from standby.contracts.operations import Progress

_STATUS = {number: name.removeprefix("WORKFLOW_EXECUTION_STATUS_").lower() for name, number in RawStatus.items()}
OPEN = ("running", "paused")


@dataclass(frozen=True)
class Execution:
    """One workflow run as Standby shows it, its status by name (`running`, `paused`, `failed`, `canceled`...)."""

    id: str
    run_id: str
    workflow_type: str
    status: str
    state: str
    start_time: datetime | None
    close_time: datetime | None


def _execution(info: WorkflowExecutionInfo) -> Execution:
    return Execution(id=info.execution.workflow_id, run_id=info.execution.run_id, workflow_type=info.type.name,
                     status=_STATUS.get(info.status, f"status {info.status}"),
                     state=decode_typed_search_attributes(info.search_attributes).get(attributes.STATE) or "",
                     start_time=info.start_time.ToDatetime(UTC) if info.HasField("start_time") else None,
                     close_time=info.close_time.ToDatetime(UTC) if info.HasField("close_time") else None)


async def describe(client: Client, workflow_id: str) -> Execution:
    """The latest run of a workflow; RPCError NOT_FOUND when there is none."""
    request = DescribeWorkflowExecutionRequest(namespace=client.namespace,
                                               execution=WorkflowExecution(workflow_id=workflow_id))
    response = await client.workflow_service.describe_workflow_execution(request, retry=True)
    return _execution(response.workflow_execution_info)


async def list_executions(client: Client, query: str, limit: int) -> list[Execution]:
    """Up to `limit` workflows matching a visibility query, newest first."""
    found: list[Execution] = []
    token = b""
    while len(found) < limit:
        request = ListWorkflowExecutionsRequest(namespace=client.namespace, query=query, next_page_token=token,
                                                page_size=min(limit, 100))
        page = await client.workflow_service.list_workflow_executions(request, retry=True)
        found += [_execution(info) for info in page.executions]
        token = page.next_page_token
        if not token:
            break
    return found[:limit]


async def is_running(client: Client, workflow_id: str) -> bool:
    """Whether the workflow's latest run is still open (running, or paused by an operator)."""
    return (await describe(client, workflow_id)).status in OPEN


async def progress_of(client: Client, workflow_id: str) -> Progress:
    """The operation's `progress` query; WorkflowQueryFailedError saying so while the workflow is paused."""
    try:
        progress: Progress = await client.get_workflow_handle(workflow_id).query("progress", result_type=Progress)
        return progress
    except ValueError:
        # Temporal rejects a query of a paused workflow, and the SDK fails on the rejection's status PAUSED (8)
        # with this ValueError; any other ValueError (a payload that does not decode) stands.
        if (await describe(client, workflow_id)).status != "paused":
            raise
        raise WorkflowQueryFailedError(f"{workflow_id} is paused in Temporal, which answers no query while it is; "
                                       f"resume it with `temporal workflow unpause --workflow-id {workflow_id}`")
