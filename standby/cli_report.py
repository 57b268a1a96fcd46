"""`standby report`: one operation's report as HTML, Markdown or JSON, from its result or its live progress."""

import asyncio
import re
import sys
from datetime import timedelta
from pathlib import Path

import click
from pydantic import ValidationError
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from standby import client as temporal
from standby import report, views
from standby.cli import err, load_or_exit, main, out
from standby.config import Settings
from standby.contracts.operations import OperationResult, Progress

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ReportError(Exception):
    """No report can be made; the message says why and what to do."""


@main.command("report")
@click.argument("ident", metavar="ID|RUNBOOK")
@click.option("--format", "fmt", type=click.Choice(report.FORMATS),
              help="html, md or json (default: from the suffix of -o, else html)")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write the report into this file")
@click.option("--runbook", "runbook_file", type=click.Path(dir_okay=False),
              help="the runbook: compare each app with its rto and rpo")
@click.option("--measurements", "measurements_file", type=click.Path(dir_okay=False),
              help="JSON of figures measured from outside (RTO from the disaster, writes lost)")
@click.option("--wait", default=15.0, show_default=True, type=click.FloatRange(min=0.1),
              help="seconds to wait for a worker to answer the progress of an operation that did not complete")
def report_command(ident: str, fmt: str | None, output: str | None, runbook_file: str | None,
                   measurements_file: str | None, wait: float) -> None:
    """Report an operation (`shop/failover`) or a runbook's latest (`shop`): timeline, RTO/RPO, hooks, approvals."""
    runbook = load_or_exit(runbook_file) if runbook_file else None
    try:
        measurements = _measurements(measurements_file)
        made = asyncio.run(build_report(ident, Settings.from_env(), runbook, measurements, timedelta(seconds=wait)))
    except (ReportError, temporal.Refused) as error:
        err.print(f"cannot report: {error}", markup=False)
        sys.exit(1)
    path = Path(output) if output else None
    chosen = fmt or report.format_of(path)
    if path is None:
        click.echo(report.render(made, chosen), nl=False)  # type: ignore[arg-type]
        return
    report.write(made, path, chosen)  # type: ignore[arg-type]
    out.print(str(path), markup=False)


def _measurements(path: str | None) -> report.Measurements | None:
    if path is None:
        return None
    try:
        return report.Measurements.model_validate_json(Path(path).read_text())
    except OSError as error:
        raise ReportError(f"cannot read measurements {path}: {error.strerror}") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise ReportError(f"{path}: {where}: {first['msg']}") from None


async def build_report(ident: str, settings: Settings, runbook, measurements,
                       wait: timedelta = timedelta(seconds=15)) -> report.Report:
    """The report of an operation (or of a runbook's latest), read from Temporal."""
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
    query = f"Runbook = '{ident}' AND Operation != 'protect'"
    found = [w async for w in client.list_workflows(query) if w.parent_id is None]
    if not found:
        raise ReportError(f"no operation of runbook '{ident}' found; list them with `standby status`")
    return max(found, key=lambda w: w.start_time).id


async def _fetch(client: Client, settings: Settings, workflow_id: str,
                 wait: timedelta) -> tuple[OperationResult | Progress, report.WorkflowInfo]:
    """The result of a completed operation, else its progress (and its failure, if it failed)."""
    handle = client.get_workflow_handle(workflow_id, result_type=OperationResult)
    try:
        described = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            raise ReportError(f"no workflow {workflow_id}; list operations with `standby status`") from None
        raise ReportError(f"Temporal refused to describe {workflow_id}: {error}") from None
    if described.workflow_type not in temporal.WORKFLOW_TYPES.values() or described.workflow_type == "Protect":
        raise ReportError(f"{workflow_id} is a {described.workflow_type} workflow, not an operation; "
                          "report one of its operations, e.g. shop/failover")
    status = _status(described.status)
    info = report.WorkflowInfo(workflow_id=workflow_id, run_id=described.run_id, status=status,
                               url=settings.workflow_url(workflow_id, described.run_id),
                               started=described.start_time, ended=described.close_time)
    if status == "completed":
        return await handle.result(), info
    if status != "running":
        info.error = await _failure(handle)
    return await _progress(client, handle, status, wait), info


def _status(status: WorkflowExecutionStatus | None) -> str:
    names = {WorkflowExecutionStatus.CANCELED: "cancelled", WorkflowExecutionStatus.CONTINUED_AS_NEW: "completed"}
    return names.get(status, status.name.lower()) if status else "unknown"  # type: ignore[arg-type]


async def _failure(handle: WorkflowHandle) -> str | None:
    try:
        await handle.result(follow_runs=False)
    except WorkflowFailureError as error:
        return views.reason(error)
    return None


async def _progress(client: Client, handle: WorkflowHandle, status: str, wait: timedelta) -> Progress:
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


async def _query(handle: WorkflowHandle, status: str, wait: timedelta) -> Progress:
    try:
        return await handle.query("progress", result_type=Progress, rpc_timeout=wait)
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
