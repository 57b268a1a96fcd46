"""Helpers of the gate tests: a shop whose runbook names the test slapd, operators who seal proofs, the record."""

import asyncio
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from standby import client as temporal
from standby import gate_client
from standby.cli import main
from standby.contracts.operations import OperationResult, Progress
from standby.contracts.state import OperationRequest
from standby.converter import DATA_CONVERTER
from standby.proof import PASSWORD_ENV, PUBLIC_KEY_ENV
from standby.runbook import Runbook
from tests.helpers import eventually_async
from tests.ops_helpers import runbook_variant, settings_for
from tests.slapd_fixture import BASE, PASSWORDS, Slapd

# Who may act, with the fixture's tree: dr-operators holds alice, and bob and dave through dr-leads; carol is in
# neither. A failover needs a second person (four_eyes: even alice, granted skip_approval, cannot skip it) and
# only alice may force it; only alice may skip a drill's approval or abort a drill. dr-operators may pause the
# protect monitor, and so resume it (resume falls back to pause's grant).
ACCESS = {
    "protect": {"pause": {"groups": ["dr-operators"]}},
    "failover": {"request": {"groups": ["dr-operators"]}, "approve": {"groups": ["dr-operators"]},
                 "force": {"users": ["alice"]}, "skip_approval": {"users": ["alice"]}, "four_eyes": True},
    "drill": {"request": {"groups": ["dr-operators"]}, "approve": {"groups": ["dr-leads"]},
              "skip_approval": {"users": ["alice"]}, "abort": {"users": ["alice"]}},
}


def directory_shop(shop_file: Path, slapd: Slapd) -> Runbook:
    """A shop variant whose runbook names the test slapd and ACCESS: every gate needs a sealed proof."""

    def edit(document: dict) -> None:
        document["directory"] = {"url": slapd.url, "base_dn": BASE, "user": f"uid={{username}},ou=people,{BASE}",
                                 "timeout": "5s"}
        document["access"] = ACCESS

    return runbook_variant(shop_file, edit=edit)


def operator(public_key: Path, name: str, password: str | None = None) -> gate_client.Identity:
    """An operator as the CLI knows them: their name, their password (the directory's unless given), the key."""
    return gate_client.Identity(user=name, environ={PUBLIC_KEY_ENV: str(public_key),
                                                    PASSWORD_ENV: password or PASSWORDS[name]})


async def request(client: Client, runbook: Runbook, task_queue: str, operation: str, who: gate_client.Identity,
                  **options: Any) -> WorkflowHandle:
    """Ask the runbook's owner for an operation as the CLI does, proofs sealed by `who`; the operation's handle."""
    sealed = gate_client.with_proofs(OperationRequest(operation=operation, runbook=runbook, **options), who)
    started = await temporal.start(client, settings_for(task_queue), sealed)
    return client.get_workflow_handle(started.workflow_id, result_type=OperationResult)


async def act(client: Client, workflow_id: str, gate: str, who: gate_client.Identity, comment: str = "") -> str:
    """`standby approve|continue|abort` as a library call: sealed for the workflow's current run and the gate."""
    run_id, action = await gate_client.action(client, workflow_id, gate, who, comment)  # type: ignore[arg-type]
    return await client.get_workflow_handle(workflow_id, run_id=run_id).execute_update(gate, action, result_type=str)


async def waiting(handle: WorkflowHandle, what: str, ready) -> Progress:
    """The operation's progress once `ready(progress)` holds."""

    async def check() -> Progress | None:
        current = await handle.query("progress", result_type=Progress)
        return current if ready(current) else None

    # Generous: on a loaded machine a launch may take its retry (10 s later) before the step comes.
    return await eventually_async(check, 120, 0.1, f"{handle.id} {what}")


async def update_failures(handle: WorkflowHandle) -> list[str]:
    """The failure message of every update the workflow accepted and then failed, in the order of its history."""
    return [e.workflow_execution_update_completed_event_attributes.outcome.failure.message
            for e in (await handle.fetch_history()).events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED
            and e.workflow_execution_update_completed_event_attributes.outcome.HasField("failure")]


async def update_inputs(handle: WorkflowHandle, name: str, arg_type: type) -> list[Any]:
    """The argument of every accepted update called `name`, decoded, as a reader of the history sees them."""
    found = []
    for event in (await handle.fetch_history()).events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            accepted = event.workflow_execution_update_accepted_event_attributes.accepted_request
            if accepted.input.name == name:
                found.append(DATA_CONVERTER.payload_converter.from_payload(accepted.input.args.payloads[0], arg_type))
    return found


async def memo_gates(handle: WorkflowHandle) -> list[str]:
    """The `gates` entry of the workflow's memo: what the Temporal UI shows of who acted."""
    return (await (await handle.describe()).memo()).get("gates", [])


def cli(client: Client, task_queue: str, public_key: Path, *args: str) -> "asyncio.Future[Result]":
    """`standby ...` in-process against the test's server and queue (its own loop, in a thread); no terminal, so
    no password prompt: a password comes from --password-file."""
    env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host, "STANDBY_TASK_QUEUE": task_queue,
           PUBLIC_KEY_ENV: str(public_key), PASSWORD_ENV: None, "COLUMNS": "250"}
    return asyncio.ensure_future(asyncio.to_thread(CliRunner().invoke, main, list(args), env=env))


def password_file(folder: Path, name: str) -> str:
    """A file holding the person's directory password, as a script gives it to `--password-file`."""
    path = folder / f"{name}.password"
    path.write_text(PASSWORDS[name] + "\n")
    path.chmod(0o600)
    return str(path)
