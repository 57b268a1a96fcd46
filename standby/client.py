"""The operator's side of Temporal: start operations under fixed IDs, find them, talk to them."""

import asyncio
from dataclasses import dataclass

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError

from standby.config import Settings, SettingsError
from standby.converter import data_converter
from standby.runbook import Runbook
from workflows import attributes

WORKFLOW_TYPES = {"drill": "Drill", "failover": "Failover", "failback": "Failback", "return": "ReturnToNormal",
                  "switchover": "Switchover", "protect": "Protect"}


class Refused(Exception):
    """The operation was not started; the message says why."""


@dataclass(frozen=True)
class Started:
    """An operation that was started: its workflow ID, run ID and Temporal UI link."""

    workflow_id: str
    run_id: str
    url: str


async def connect(settings: Settings, wait: float = 0.0) -> Client:
    """A client of the configured Temporal server (TLS, API key and payload codec from the settings), for the CLI
    and the worker alike; `wait` seconds for a server that is still starting."""
    try:
        tls, converter = settings.tls(), data_converter(settings.keyring())
    except SettingsError as error:
        raise Refused(str(error)) from None
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        try:
            return await Client.connect(settings.temporal_address, namespace=settings.namespace, tls=tls,
                                        api_key=settings.api_key, data_converter=converter)
        except RuntimeError as error:
            # A dev server just started accepts connections before its frontend is healthy.
            if asyncio.get_running_loop().time() >= deadline:
                raise Refused(f"cannot reach Temporal at {settings.temporal_address} ({error}); "
                              "start it with `standby server` or set TEMPORAL_ADDRESS") from None
            await asyncio.sleep(0.5)


def workflow_id(runbook: str, operation: str) -> str:
    """`standby/<runbook>/<operation>`: one ID per runbook and operation, so two can never run at once."""
    return f"standby/{runbook}/{operation}"


def resolve(ident: str) -> str:
    """A workflow ID from `standby/shop/failover`, `shop/failover` or `shop` (its protection)."""
    if ident.startswith("standby/"):
        return ident
    return f"standby/{ident}" if "/" in ident else workflow_id(ident, "protect")


async def running_operations(client: Client, runbook: str) -> list[str]:
    """IDs of this runbook's operations still running (protection excluded)."""
    query = f"Runbook = '{runbook}' AND ExecutionStatus = 'Running' AND Operation != 'protect'"
    return [w.id async for w in client.list_workflows(query)]


async def start(client: Client, settings: Settings, runbook: Runbook, operation: str, arg: object,
                mode: str = "recovery") -> Started:
    """Start an operation, refusing while another operation of the runbook runs."""
    ident = workflow_id(runbook.runbook, operation)
    if operation != "protect":
        busy = await running_operations(client, runbook.runbook)
        if busy:
            raise Refused(f"{operation} of {runbook.runbook} refused: {', '.join(busy)} is still running; "
                          f"watch it with `standby status {busy[0]}` or stop it with `standby abort {busy[0]}`")
    search = TypedSearchAttributes([
        SearchAttributePair(attributes.RUNBOOK, runbook.runbook), SearchAttributePair(attributes.OPERATION, operation),
        SearchAttributePair(attributes.MODE, mode), SearchAttributePair(attributes.STATE, "starting"),
    ])
    try:
        handle = await client.start_workflow(
            WORKFLOW_TYPES[operation], arg, id=ident, task_queue=settings.task_queue, search_attributes=search,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=f"{operation} of {runbook.runbook}",
        )
    except WorkflowAlreadyStartedError:
        raise Refused(f"{operation} of {runbook.runbook} refused: {ident} is already running; "
                      f"watch it with `standby status {ident}`") from None
    return Started(ident, handle.result_run_id or "", settings.workflow_url(ident, handle.result_run_id))


async def is_running(handle: WorkflowHandle) -> bool:
    """Whether the workflow's latest run is still running."""
    return (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
