"""The operator's side of Temporal: start operations under fixed IDs, find them, talk to them, follow them."""

import asyncio
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

from rich.console import Console
from temporalio.client import (
    Client,
    RetryConfig,
    WithStartWorkflowOperation,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from standby import views
from standby.config import Settings, SettingsError
from standby.contracts import attributes
from standby.contracts.operations import OperationResult, Progress
from standby.contracts.state import (
    OperationRequest,
    OwnerInput,
    ProtectRequest,
    RunbookTruth,
    owner_task_timeout,
)
from standby.converter import data_converter
from standby.executions import is_running, progress_of
from standby.runbook import Runbook


class Refused(Exception):
    """The operation was not started; the message says why."""


@dataclass(frozen=True)
class Started:
    """An operation that was started: its workflow ID, run ID and Temporal UI link."""

    workflow_id: str
    run_id: str
    url: str


async def connect(settings: Settings, wait: float = 0.0, runtime: Runtime | None = None) -> Client:
    """A client of the configured Temporal server (TLS, API key and payload codec from the settings), for the CLI
    and the worker alike; `wait` seconds for a server that is still starting.

    Each of the client's calls keeps retrying for `settings.patience` seconds while the server does not answer.
    """
    try:
        tls, converter = settings.tls(), data_converter(settings.keyring())
    except SettingsError as error:
        raise Refused(str(error)) from None
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        try:
            return await Client.connect(settings.temporal_address, namespace=settings.namespace, tls=tls,
                                        api_key=settings.api_key, data_converter=converter,
                                        retry_config=_retries(settings.patience), runtime=runtime)
        except RuntimeError as error:
            # A dev server just started accepts connections before its frontend is healthy.
            if asyncio.get_running_loop().time() >= deadline:
                raise Refused(unreachable(settings.temporal_address, error)) from None
            await asyncio.sleep(0.5)


def owner_id(runbook: str) -> str:
    """`standby/<runbook>`: the runbook's owner workflow, which holds its truth and starts its operations."""
    return f"standby/{runbook}"
def _retries(patience: float) -> RetryConfig:
    # The SDK's default retries for 10 s in all, so a server restart of 10 s or more failed every running command.
    # Retries at most 2 s apart: a server that is back is found soon.
    return RetryConfig(max_interval_millis=2000, max_elapsed_time_millis=int(patience * 1000),
                       max_retries=int(patience) + 10)


def unreachable(address: str, error: BaseException) -> str:
    """The sentence for a server that cannot be reached: the address tried and how to get a server there."""
    why = "connection refused" if "Connection refused" in str(error) else str(error)
    port = address.rpartition(":")[2]
    return (f"cannot reach Temporal at {address} ({why}); start a server there with `standby server --port {port}`, "
            "or set TEMPORAL_ADDRESS to the host:port of yours")


def exit_process(code: int) -> NoReturn:
    """Flush what was printed and end the process with `code`, skipping the interpreter's teardown.

    temporalio/sdk-python#300 (open): the Rust client's threads may still touch the GIL while CPython finalizes,
    and a command that succeeded aborts with "Fatal Python error: PyGILState_Release" (SIGABRT, or SIGSEGV).
    A maintainer there doubts that closing the client would help, the cause being the cleanup of the SDK's Tokio
    runtime; leaving with os._exit once every output is flushed, as other projects hit by it do, skips that cleanup.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # a closed pipe or file: nothing more can reach it
    os._exit(code)


async def owner_runbook(client: Client, runbook: str) -> Runbook:
    """The runbook as its owner holds it; Refused when nothing owns (protects or operated on) a runbook of that name."""
    try:
        held: Runbook = await client.get_workflow_handle(owner_id(runbook)).query("runbook", result_type=Runbook)
        return held
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
    raise Refused(f"runbook '{runbook}' has no owner workflow ({owner_id(runbook)}): it was never protected here; "
                  "protect it with `standby protect RUNBOOK_FILE`, or list runbooks with `standby status`")


def workflow_id(runbook: str, operation: str) -> str:
    """`standby/<runbook>/<operation>`: the owner starts each operation under this ID."""
    return f"{owner_id(runbook)}/{operation}"


def resolve(ident: str) -> str:
    """A workflow ID from `standby/shop/failover`, `shop/failover` or `shop` (its owner)."""
    if ident.startswith("standby/"):
        return ident
    return f"standby/{ident}"


def _owner_options(settings: Settings, runbook: Runbook) -> dict[str, Any]:
    """How the runbook's owner starts: its ID, queue, search attributes (its sites, for workers that discover them)."""
    search = TypedSearchAttributes([
        SearchAttributePair(attributes.RUNBOOK, runbook.runbook), SearchAttributePair(attributes.OPERATION, "owner"),
        SearchAttributePair(attributes.SITES, sorted(runbook.sites)),
    ])
    return {"id": owner_id(runbook.runbook), "task_queue": settings.task_queue, "search_attributes": search,
            "task_timeout": owner_task_timeout(len(runbook.machines)),
            "static_summary": f"owner of runbook {runbook.runbook}"}


def _owner_start(settings: Settings, runbook: Runbook) -> WithStartWorkflowOperation[Any, Any]:
    """Start the runbook's owner if it does not run yet; use the running one if it does."""
    return WithStartWorkflowOperation("Runbook", OwnerInput(runbook=runbook),
                                      id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                                      **_owner_options(settings, runbook))


async def start_owner(client: Client, settings: Settings, runbook: Runbook,
                      truth: RunbookTruth) -> WorkflowHandle[Any, Any]:
    """Start the runbook's owner knowing its truth already (a benchmark's runbook, protected outside Standby)."""
    return await client.start_workflow("Runbook", OwnerInput(runbook=runbook, truth=truth),
                                       **_owner_options(settings, runbook))


async def _ask_owner(client: Client, settings: Settings, runbook: Runbook, update: str, arg: object) -> str:
    """An update of the runbook's owner, started with it if needed; a refusal becomes Refused with its reason."""
    try:
        try:
            # The owner usually runs: the update alone, without the start's copy of the runbook to send along.
            answer: str = await client.get_workflow_handle(owner_id(runbook.runbook)).execute_update(
                update, arg, result_type=str)
            return answer
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        answer = await client.execute_update_with_start_workflow(
            update, arg, start_workflow_operation=_owner_start(settings, runbook), result_type=str)
        return answer
    except WorkflowUpdateFailedError as error:
        raise Refused(_reason(error)) from None


def _reason(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return error.message if isinstance(error, ApplicationError) else str(error)


async def start(client: Client, settings: Settings, request: OperationRequest) -> Started:
    """Ask the runbook's owner to start an operation; Refused (with the state and the command that fits) if not."""
    ident = await _ask_owner(client, settings, request.runbook, "request", request)
    return Started(ident, "", settings.workflow_url(ident))


async def protect(client: Client, settings: Settings, request: ProtectRequest) -> str:
    """Ask the runbook's owner to protect the runbook (or to stop protecting it); what it answered."""
    return await _ask_owner(client, settings, request.runbook, "protect", request)


async def follow(client: Client, ident: str, console: Console, errors: Console) -> int:
    """Print the operation's steps as they end, and what it waits for, until it ends; 0 if it completed, else 1.

    Steps and hints go to `console`; the reason of a failure goes to `errors`.
    """
    handle = client.get_workflow_handle(ident, result_type=OperationResult)
    shown, hint = 0, ""
    while await is_running(client, ident):
        try:
            progress = await progress_of(client, ident)
        except (RPCError, WorkflowQueryFailedError):
            await asyncio.sleep(0.5)
            continue
        shown = _print_finished(console, progress, shown)
        waiting = views.waiting_hint(progress, ident)
        if waiting and waiting != hint:
            console.print(waiting, markup=False)
        hint = waiting
        await asyncio.sleep(0.5)
    try:
        result = await handle.result()
    except WorkflowFailureError as error:
        errors.print(f"{ident} failed: {views.reason(error)}", markup=False)
        return 1
    _print_finished(console, result, shown)
    console.print(f"{ident}: {result.state}", markup=False)
    return 0


def _print_finished(console: Console, progress: Progress | OperationResult, shown: int) -> int:
    """Print the steps that ended since the last call, in order; how many are printed now."""
    steps = progress.steps
    while shown < len(steps) and steps[shown].status != "running":
        console.print(views.step_line(steps[shown]), markup=False)
        shown += 1
    return shown
