"""Helpers of the operation and durability tests: runbook variants, protection, prompts, the shop's orders."""

import asyncio
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from activities.sites.local.processes import port_open
from standby import client as temporal
from standby import lifecycle
from standby.config import Settings
from standby.contracts.operations import OperationResult, Progress
from standby.contracts.protect import OwnerStatus
from standby.contracts.state import OperationRequest, ProtectRequest
from standby.loader import load
from standby.runbook import Runbook
from tests.helpers import eventually_async, http, post_order


def runbook_variant(shop_file: Path, hooks: list[dict] | None = None, edit: Callable[[dict], None] | None = None,
                    name: str | None = None) -> Runbook:
    """A copy of the shop runbook under a unique name (its own workflow IDs, search attributes and state folder),
    with extra hooks or other edits, loaded and validated like the CLI does."""
    document = yaml.safe_load(shop_file.read_text())
    document["runbook"] = name or f"shop-{uuid.uuid4().hex[:8]}"
    document["hooks"] = [*document.get("hooks", []), *(hooks or [])]
    if edit is not None:
        edit(document)
    path = shop_file.with_name(f"{document['runbook']}.yaml")
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load(path)


def public_port(runbook: Runbook, app: str) -> int:
    """The public endpoint port of an app."""
    endpoint = runbook.apps[app].endpoint
    assert endpoint is not None and endpoint.port is not None
    return endpoint.port


def settings_for(task_queue: str) -> Settings:
    """The CLI's settings, on a test's own task queue."""
    return replace(Settings.from_env(), task_queue=task_queue)


async def start_protect(client: Client, runbook: Runbook, task_queue: str) -> WorkflowHandle:
    """Protect the runbook through its owner, as `standby protect` does; returns the owner's handle once every
    machine is in continuous data protection."""
    await temporal.protect(client, settings_for(task_queue), ProtectRequest(runbook=runbook, requested_by="tester"))
    handle = client.get_workflow_handle(temporal.owner_id(runbook.runbook))
    await wait_continuous(handle, runbook)
    return handle


async def request(client: Client, runbook: Runbook, task_queue: str, operation: str, **options: Any) -> WorkflowHandle:
    """Ask the runbook's owner for an operation, as the CLI does; the operation's handle."""
    started = await temporal.start(client, settings_for(task_queue),
                                   OperationRequest(operation=operation, runbook=runbook, **options))
    return client.get_workflow_handle(started.workflow_id, result_type=OperationResult)


async def failover_protected(client: Client, runbook: Runbook, task_queue: str) -> WorkflowHandle:
    """A forced, approved failover of a runbook whose owner starts knowing every app protected (nothing brought up
    first: the benchmark provider's runbooks are too large to); the failover's handle."""
    await temporal.start_owner(client, settings_for(task_queue), runbook, lifecycle.protected(runbook))
    return await request(client, runbook, task_queue, "failover", force=True, yes=True)


async def owner_status(client: Client, runbook: Runbook) -> OwnerStatus:
    """What `standby status RUNBOOK` shows."""
    return await client.get_workflow_handle(temporal.owner_id(runbook.runbook)).query("status",
                                                                                      result_type=OwnerStatus)


async def wait_continuous(handle: WorkflowHandle, runbook: Runbook, timeout: float = 60) -> OwnerStatus:
    """Poll the owner's status until every machine of the runbook is continuous."""

    async def continuous() -> OwnerStatus | None:
        status = await handle.query("status", result_type=OwnerStatus)
        phases = {m.machine: m.phase for m in status.machines}
        return status if set(phases) == set(runbook.machines) and set(phases.values()) == {"continuous"} else None

    return await eventually_async(continuous, timeout, 0.2, f"every machine of {runbook.runbook} continuous")


async def progress(handle: WorkflowHandle) -> Progress:
    """The `progress` query of an operation or of one of its RecoverGroup children."""
    return await handle.query("progress", result_type=Progress)


async def waiting_prompt(client: Client, handle: WorkflowHandle, text: str = "", timeout: float = 30) -> WorkflowHandle:
    """The handle (the operation's, or its running child's) of the workflow waiting at a prompt containing text."""

    async def found() -> WorkflowHandle | None:
        for candidate in await _with_child(client, handle):
            shown = (await progress(candidate)).prompt
            if shown is not None and text in shown:
                return candidate
        return None

    return await eventually_async(found, timeout, 0.1, f"a prompt containing {text!r} in {handle.id}")


async def _with_child(client: Client, handle: WorkflowHandle) -> list[WorkflowHandle]:
    current = await progress(handle)
    return [handle] + ([client.get_workflow_handle(current.child)] if current.child else [])


async def answer_prompt(client: Client, handle: WorkflowHandle, text: str = "", by: str = "tester") -> str:
    """Wait for a prompt containing text (in the operation or its child) and answer `continue`."""
    waiting = await waiting_prompt(client, handle, text)
    return await waiting.execute_update("continue", by, result_type=str)


async def finished(handle: WorkflowHandle, timeout: float = 60) -> Any:
    """The workflow's result, failing the test instead of hanging it when the workflow never ends."""
    return await asyncio.wait_for(handle.result(), timeout)


async def result_answering(client: Client, handle: WorkflowHandle, prompts: int = 1) -> Any:
    """The operation's result after answering `prompts` prompts along the way."""
    for _ in range(prompts):
        await answer_prompt(client, handle)
    return await finished(handle)


async def place_order(port: int, item: str) -> dict:
    """POST an order to the shop's public web endpoint; returns it once acknowledged (201)."""
    return await asyncio.to_thread(post_order, port, item)


async def served_items(port: int) -> list[str]:
    """The items of the orders the shop's public web page lists (fails unless the page answers 200)."""
    status, page = await asyncio.to_thread(http, "GET", port, "/")
    assert status == 200, f"web page answered {status}: {str(page)[:200]}"
    return re.findall(r"<tr><td>\d+</td><td>([^<]*)</td>", page)


async def serves_all(port: int, items: list[str], timeout: float = 15) -> list[str]:
    """Poll the public web page until it lists every item (an endpoint may just be moving)."""

    async def listed() -> list[str] | None:
        try:
            served = await served_items(port)
        except AssertionError:
            return None
        return served if all(item in served for item in items) else None

    return await eventually_async(listed, timeout, 0.2, f"port {port} serving {items}")


def launches(state_dir: Path, runbook: str, site: str, key_prefix: str = "") -> dict[str, int]:
    """How many processes launches started per machine at a site, for keys starting with key_prefix."""
    log = state_dir / "runbooks" / runbook / "sites" / site / "launches.log"
    counts: dict[str, int] = {}
    for line in log.read_text().splitlines() if log.exists() else []:
        entry = json.loads(line)
        if entry["key"].startswith(key_prefix):
            counts[entry["machine"]] = counts.get(entry["machine"], 0) + 1
    return counts


def port_answers(port: int) -> bool:
    """Whether anything accepts TCP connections on 127.0.0.1:port."""
    return port_open(port)


async def reports_one_at_a_time(client: Client, workflow_id: str) -> int:
    """The operation's reports to its owner, after checking from its history that each signal was sent only once
    the one before it was delivered (Temporal orders two signals in flight at once either way)."""
    in_flight: set[int] = set()
    sent = 0
    async for event in client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
            assert not in_flight, f"event {event.event_id}: a signal sent while {sorted(in_flight)} was in flight"
            in_flight.add(event.event_id)
            sent += 1
        elif event.event_type == EventType.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED:
            in_flight.discard(event.external_workflow_execution_signaled_event_attributes.initiated_event_id)
        elif event.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED:
            in_flight.discard(event.signal_external_workflow_execution_failed_event_attributes.initiated_event_id)
    return sent


async def stop_runbook(client: Client, runbook: str) -> None:
    """Terminate every workflow of a runbook that still runs; one that ended since the list (visibility lags
    behind) is already closed."""
    async for execution in client.list_workflows(f"Runbook = '{runbook}' AND ExecutionStatus = 'Running'"):
        await stop_workflows(client.get_workflow_handle(execution.id))


async def stop_workflows(*handles: WorkflowHandle | None) -> None:
    """Terminate what a test left running, so that no workflow outlives its test on the shared dev server."""
    for handle in handles:
        if handle is None:
            continue
        try:
            await handle.terminate("test finished")
        except RPCError:
            pass  # already closed
