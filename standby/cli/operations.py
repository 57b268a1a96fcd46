"""Operator commands: protect, the five operations, status, approve, continue, abort, finish."""

import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click
from temporalio.client import Client, WorkflowHandle

from standby import client as temporal
from standby import executions, gate_client, patience, views
from standby.cli.output import USAGE, err, fail, load_or_exit, out, run_async
from standby.config import Settings
from standby.contracts.protect import OwnerStatus
from standby.contracts.state import OperationRequest, ProtectRequest
from standby.durations import parse_duration
from standby.proof import ProofError
from standby.runbook import Gate

F = TypeVar("F", bound=Callable[..., Any])


def identity_options(command: F) -> F:
    """`--user` and `--password-file`: who acts, proven to the directory when the runbook names one."""
    command = click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path),
                           help="read the directory password from this file (else STANDBY_PASSWORD, else a prompt); "
                                "never give it as an argument")(command)
    return click.option("--user", "--by", "user", help="your directory username (default: STANDBY_USER, else "
                        "your login name)")(command)


@click.command()
@click.argument("runbook_file", type=click.Path(dir_okay=False))
@click.option("--stop", is_flag=True, help="stop protecting after the current round")
@run_async
async def protect(runbook_file: str, stop: bool) -> None:
    """Start the runbook's apps at the active site and replicate them continuously."""
    runbook, settings = load_or_exit(runbook_file), Settings.from_env()
    client = await temporal.connect(settings)
    answer = await temporal.protect(client, settings, ProtectRequest(runbook=runbook, stop=stop,
                                                                     requested_by=getpass.getuser()))
    owner = temporal.owner_id(runbook.runbook)
    out.print(f"{answer}: {owner}\n  {settings.workflow_url(owner)}\n"
              f"  watch it with `standby status {runbook.runbook}`", markup=False)


def _operation(name: str, summary: str) -> click.Command:
    """A click command that starts operation `name` and follows it."""

    @click.argument("runbook_file", type=click.Path(dir_okay=False))
    @click.option("--only", multiple=True, help="only this app (repeat for several)")
    @click.option("--point", help="recovery point: the newest at or before this UTC time (ISO 8601)")
    @click.option("--force", is_flag=True, help="skip the preconditions (replication state, recent drill)")
    @click.option("--yes", is_flag=True, help="skip the approval gate")
    @click.option("--keep-for", help="drill: keep the test targets this long (e.g. 10m)")
    @click.option("--detach", is_flag=True, help="print the workflow and return at once")
    @identity_options
    @run_async
    async def command(runbook_file: str, only: tuple[str, ...], point: str | None, force: bool, yes: bool,
                      keep_for: str | None, detach: bool, user: str | None, password_file: Path | None) -> None:
        runbook, settings = load_or_exit(runbook_file), Settings.from_env()
        request = OperationRequest(operation=name, runbook=runbook, only=list(only), point=_time(point), force=force,
                                   yes=yes, keep_for=parse_duration(keep_for) if keep_for else None)
        try:
            request = gate_client.with_proofs(request, gate_client.Identity(user, password_file))
        except ProofError as error:  # a missing key or password: exit 2, saying which
            fail(str(error), USAGE)
        client = await temporal.connect(settings)
        started = await temporal.start(client, settings, request)
        out.print(f"{name} of {runbook.runbook} started: {started.workflow_id}\n  {started.url}", markup=False)
        if not detach:
            sys.exit(await patience.follow_patiently(client, settings, started.workflow_id, out, err))

    command.__doc__ = summary
    return click.command(name)(command)


def _time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"'{text}' is not an ISO 8601 time such as 2026-11-22T10:00Z", param_hint="--point")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


OPERATION_COMMANDS = tuple(_operation(name, summary) for name, summary in [
    ("drill", "Launch test targets from a recovery point, check them, clean them up."),
    ("failover", "Recover the apps at the DR site from a recovery point and move their identity there."),
    ("failback", "Reverse replication and bring the apps back to the source site."),
    ("return", "Replicate in the original direction again, until continuous data protection."),
    ("switchover", "Swap active and passive sites with no data loss."),
])


@click.command()
@click.argument("ident", required=False)
@run_async
async def status(ident: str | None) -> None:
    """Replication and operations of a runbook (`shop`), or one operation (`shop/failover`)."""
    settings = Settings.from_env()
    client = await temporal.connect(settings)
    if ident is None:
        out.print(views.workflow_table(await executions.list_executions(client, "Runbook IS NOT NULL", 50)))
        return
    handle = client.get_workflow_handle(temporal.resolve(ident))
    if temporal.resolve(ident).count("/") == 1:
        out.print(views.owner_view(await handle.query("status", result_type=OwnerStatus)))
        runbook = ident.removeprefix("standby/").split("/")[0]
        out.print(views.workflow_table(await executions.list_executions(client, f"Runbook = '{runbook}'", 20)))
    else:
        out.print(views.progress_view(await executions.progress_of(client, temporal.resolve(ident))))


@click.command()
@click.argument("ident")
@click.option("--comment", default="")
@identity_options
@run_async
async def approve(ident: str, comment: str, user: str | None, password_file: Path | None) -> None:
    """Approve an operation waiting at its approval gate."""
    client = await temporal.connect(Settings.from_env())
    out.print(await _act(client, temporal.resolve(ident), "approve", user, password_file, comment),
              markup=False)


@click.command(name="continue")
@click.argument("ident")
@identity_options
@run_async
async def continue_(ident: str, user: str | None, password_file: Path | None) -> None:
    """Answer the prompt step an operation (or its current group) waits at."""
    client = await temporal.connect(Settings.from_env())
    target = temporal.resolve(ident)
    progress = await executions.progress_of(client, target)
    if progress.prompt is None and progress.child:
        target = progress.child
    out.print(await _act(client, target, "continue", user, password_file), markup=False)


@click.command()
@click.argument("ident")
@identity_options
@run_async
async def abort(ident: str, user: str | None, password_file: Path | None) -> None:
    """Abort an operation: its steps stop, its cleanup runs (a drill removes its targets), it ends cancelled."""
    client = await temporal.connect(Settings.from_env())
    out.print(await _act(client, temporal.resolve(ident), "abort", user, password_file), markup=False)


async def _act(client: Client, workflow_id: str, gate: Gate, user: str | None, password_file: Path | None,
               comment: str = "") -> str:
    """Send the gate's update (named as the gate) to the workflow's current run, sealed for that run when its
    runbook names a directory."""
    identity = gate_client.Identity(user, password_file)
    try:
        run_id, action = await gate_client.action(client, workflow_id, gate, identity, comment)
    except ProofError as error:
        fail(str(error), USAGE)
    return await _update(client.get_workflow_handle(workflow_id, run_id=run_id), gate, action)


async def _update(handle: WorkflowHandle[Any, Any], name: str, arg: object) -> str:
    try:
        answer: str = await handle.execute_update(name, arg, result_type=str)
        return answer
    except Exception as error:  # the SDK raises WorkflowUpdateFailedError carrying the validator's reason
        raise temporal.Refused(f"{handle.id}: {views.reason(error)}") from None


@click.command()
@click.argument("ident")
@run_async
async def finish(ident: str) -> None:
    """End a drill that keeps its targets: clean them up now."""
    client = await temporal.connect(Settings.from_env())
    await client.get_workflow_handle(temporal.resolve(ident)).signal("finish")
    out.print(f"{temporal.resolve(ident)}: finishing", markup=False)


# `protect` is served by standby.cli.monitor, with its pause and resume.
COMMANDS = (*OPERATION_COMMANDS, status, approve, continue_, abort, finish)
