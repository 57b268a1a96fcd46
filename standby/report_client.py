"""An operation's report read from Temporal: its result when it completed, else its progress and its failure."""

import re
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from standby import client as temporal
from standby import executions, report, views
from standby.config import Settings
from standby.contracts import names
from standby.contracts.operations import OperationResult, Progress
from standby.runbook import Runbook

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ReportError(Exception):
    """No report can be made; the message says why and what to do."""


async def build_report(ident: str, settings: Settings, runbook: Runbook | None = None,
                       measurements: report.Measurements | None = None,
                       wait: timedelta = timedelta(seconds=15)) -> report.Report:
    """The report of an operation (`shop/failover`) or of a runbook's latest (`shop`), read from Temporal.

    `runbook` adds each app's RTO and RPO targets; `wait` bounds how long a worker may take to answer
    the progress of an operation that did not complete.
    """
    client = await temporal.connect(settings)
    workflow_id = await _resolve(client, ident)
    name = workflow_id.removeprefix("standby/").split("/")[0]
    if runbook is not None and runbook.runbook != name:
        raise ReportError(f"{workflow_id} is an operation of runbook '{name}', but --runbook is '{runbook.runbook}'")
    data, info = await _fetch(client, settings, workflow_id, wait)
    return report.build(data, info, runbook, measurements)


async def _resolve(client: Client, ident: str) -> str:
    """A workflow ID from `standby/shop/failover`, `shop/failover`, or `shop` (its latest operation)."""
    if "/" in ident:
        return ident if ident.startswith("standby/") else f"standby/{ident}"
    if not _NAME.match(ident):
        raise ReportError(f"'{ident}' is neither an operation ID (shop/failover) nor a runbook name")
    # The runbook's operations are children of its owner (earlier versions started them alone, and a protect
    # workflow beside them); the owner and the operations' own children are no operations to report.
    query = f"Runbook = '{ident}' AND Operation != 'owner' AND Operation != 'protect'"
    found = [w async for w in client.list_workflows(query) if w.parent_id in (None, temporal.owner_id(ident))]
    if not found:
        raise ReportError(f"no operation of runbook '{ident}' found; list them with `standby status`")
    return max(found, key=lambda w: w.start_time).id


async def _fetch(client: Client, settings: Settings, workflow_id: str,
                 wait: timedelta) -> tuple[OperationResult | Progress, report.WorkflowInfo]:
    """The result of a completed operation, else its progress (and its failure, if it failed)."""
    handle = client.get_workflow_handle(workflow_id, result_type=OperationResult)
    try:
        described = await executions.describe(client, workflow_id)
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise ReportError(f"no workflow {workflow_id}; list operations with `standby status`") from None
        raise ReportError(f"Temporal refused to describe {workflow_id}: {error}") from None
    if described.workflow_type not in names.OPERATION_WORKFLOWS.values():
        raise ReportError(f"{workflow_id} is a {described.workflow_type} workflow, not an operation; "
                          "report one of its operations, e.g. shop/failover")
    status = _status(described.status)
    if status == "paused":
        raise ReportError(f"{workflow_id} is paused in Temporal, which answers no query of it, so its progress cannot "
                          f"be read; resume it with `temporal workflow unpause --workflow-id {workflow_id}` "
                          "and report again")
    info = report.WorkflowInfo(workflow_id=workflow_id, run_id=described.run_id, status=status,
                               url=settings.workflow_url(workflow_id, described.run_id),
                               started=described.start_time, ended=described.close_time)
    if status == "completed":
        return await handle.result(), info
    if status != "running":
        info.error = await _failure(handle)
    return await _progress(client, handle, status, wait), info



def _status(status: str) -> str:
    return {"canceled": "cancelled", "continued_as_new": "completed", "unspecified": "unknown"}.get(status, status)


async def _failure(handle: WorkflowHandle[Any, Any]) -> str | None:
    try:
        await handle.result(follow_runs=False)
    except WorkflowFailureError as error:
        return views.reason(error)
    return None


async def _progress(client: Client, handle: WorkflowHandle[Any, Any], status: str, wait: timedelta) -> Progress:
    """The operation's progress, with the steps of the group it was recovering (a failed group's are only there)."""
    progress = await _query(handle, status, wait)
    if progress.child:
        try:
            child = await _query(client.get_workflow_handle(progress.child), status, wait)
        except ReportError:
            return progress
        known = {(s.name, s.started) for s in progress.steps}
        progress.steps += [s for s in child.steps if (s.name, s.started) not in known]
    return progress


async def _query(handle: WorkflowHandle[Any, Any], status: str, wait: timedelta) -> Progress:
    try:
        progress: Progress = await handle.query("progress", result_type=Progress, rpc_timeout=wait)
        return progress
    except RPCError as error:
        if error.status not in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED):
            raise ReportError(f"{handle.id} did not answer its progress query: {error}") from None
        raise ReportError(
            f"{handle.id} is {status} and no worker answered its progress query within {wait.total_seconds():g}s: "
            "operations that did not complete are reported from their progress, which a worker answers "
            "(also after they closed); start one with `python worker.py` (same TEMPORAL_ADDRESS and "
            "STANDBY_TASK_QUEUE as the operation) and run the report again") from None
    except Exception as error:  # WorkflowQueryFailedError and friends carry the worker's reason
        raise ReportError(f"{handle.id}: progress query failed: {views.reason(error)}") from None
