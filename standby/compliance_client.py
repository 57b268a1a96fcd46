"""`standby compliance` read from Temporal: every runbook's owner, its last drill and last failover."""

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from standby import views
from standby.config import Settings
from standby.contracts.operations import OperationResult, Progress
from standby.contracts.protect import OwnerStatus
from standby.report.compliance import ComplianceReport, Fetched, RunbookCompliance, RunbookFacts, runbook_compliance
from standby.report.model import WorkflowInfo
from standby.runbook import Runbook

OWNERS = "WorkflowType = 'Runbook' AND ExecutionStatus = 'Running'"
# A drill is recorded as `<workflow id>/<run id>`; earlier versions recorded the workflow ID alone.
_RUN = re.compile(r"^(?P<workflow>.+)/(?P<run>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")
# A worker answers a query in milliseconds; one that does not within this leaves the figures unmeasured.
QUERY_TIMEOUT = timedelta(seconds=10)


async def gather(client: Client, settings: Settings, now: datetime | None = None) -> ComplianceReport:
    """The compliance of every runbook whose owner runs in the namespace, by name."""
    owners = sorted({execution.id async for execution in client.list_workflows(OWNERS)})
    found = await asyncio.gather(*(_runbook(client, settings, owner) for owner in owners))
    moment = now or datetime.now(UTC)
    runbooks = [runbook_compliance(f, moment) if isinstance(f, RunbookFacts) else f for f in found]
    return ComplianceReport(generated=moment, namespace=settings.namespace, runbooks=runbooks)


async def _runbook(client: Client, settings: Settings, owner: str) -> RunbookFacts | RunbookCompliance:
    handle = client.get_workflow_handle(owner)
    try:
        runbook = await handle.query("runbook", result_type=Runbook, rpc_timeout=QUERY_TIMEOUT)
        status = await handle.query("status", result_type=OwnerStatus, rpc_timeout=QUERY_TIMEOUT)
    except Exception as error:  # an owner no worker answers for: reported as such, the others still are
        return RunbookCompliance(runbook=owner.removeprefix("standby/"), owner=owner, url=settings.workflow_url(owner),
                                 protecting=False, outside=[f"its owner did not answer: {views.reason(error)}"],
                                 compliant=False)
    drill = status.truth.last_drill
    return RunbookFacts(runbook=runbook, status=status, owner_url=settings.workflow_url(owner),
                        last_drill=await _fetch(client, settings, drill.workflow_id) if drill and drill.workflow_id
                        else None,
                        last_failover=await _last_failover(client, settings, runbook.runbook))


async def _last_failover(client: Client, settings: Settings, runbook: str) -> Fetched | None:
    query = f"WorkflowType = 'Failover' AND Runbook = '{runbook}'"
    found = [w async for w in client.list_workflows(query)]
    if not found:
        return None
    last = max(found, key=lambda w: w.start_time)
    return await _fetch(client, settings, f"{last.id}/{last.run_id}")


async def _fetch(client: Client, settings: Settings, recorded: str) -> Fetched | None:
    """An operation's workflow, and its result (completed) or progress; None once its history is gone."""
    matched = _RUN.match(recorded)
    workflow_id, run_id = (matched["workflow"], matched["run"]) if matched else (recorded, None)
    handle = client.get_workflow_handle(workflow_id, run_id=run_id, result_type=OperationResult)
    try:
        described = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    status = _status(described.status)
    info = WorkflowInfo(workflow_id=workflow_id, run_id=described.run_id, status=status,
                        url=settings.workflow_url(workflow_id, described.run_id), started=described.start_time,
                        ended=described.close_time)
    if status == "completed":
        return Fetched(info=info, data=await handle.result(follow_runs=False))
    if status != "running":
        info.error = await _failure(handle)
    try:
        progress = await handle.query("progress", result_type=Progress, rpc_timeout=QUERY_TIMEOUT)
    except Exception:  # no worker answers for it now: its figures stay unmeasured
        return Fetched(info=info)
    return Fetched(info=info, data=progress)


def _status(status: WorkflowExecutionStatus | None) -> str:
    names = {WorkflowExecutionStatus.CANCELED: "cancelled"}
    return names.get(status, status.name.lower()) if status else "unknown"


async def _failure(handle: WorkflowHandle[Any, OperationResult]) -> str | None:
    try:
        await handle.result(follow_runs=False)
    except WorkflowFailureError as error:
        return views.reason(error)
    return None
