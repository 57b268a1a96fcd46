"""The recorder's run of a runbook's owner with its protect monitor: the shop as a pair, heartbeats and all.

runbooks/shop-pair.yaml (its fixed ports, like the shop's) protected through its owner, its witness the
recorder's own Temporal server; db's process killed and restarted by the monitor; the monitor paused and
resumed; protection stopped, and the owner kept once it waits for nothing.
"""

import os
import signal
from pathlib import Path

import yaml
from temporalio.client import Client, WorkflowHandle

from activities.sites.local.processes import running_pid
from standby import client as temporal
from standby.config import Settings
from standby.contracts.local_layout import Layout
from standby.contracts.monitor import MonitorCommand
from standby.contracts.protect import OwnerStatus
from standby.contracts.state import ProtectRequest
from standby.loader import load
from standby.monitor_view import pair_state
from standby.runbook import Runbook
from tests.helpers import eventually_async
from tests.histories.scenarios import at_rest

SHOP_PAIR = Path(__file__).resolve().parents[2] / "runbooks" / "shop-pair.yaml"


def pair_runbook(client: Client, state: Path) -> Runbook:
    """shop-pair.yaml with the recorder's Temporal server as its one witness, written into the state folder."""
    document = yaml.safe_load(SHOP_PAIR.read_text(encoding="utf-8"))
    document["pairs"]["shop"]["witnesses"] = [client.service_client.config.target_host]
    path = state / "shop-pair.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return load(path)


async def monitored(client: Client, config: Settings, runbook: Runbook) -> list[str]:
    """Protect, restart a killed db, pause and resume, stop; the owner's ID."""
    await temporal.protect(client, config, ProtectRequest(runbook=runbook, requested_by="operator"))
    owner = client.get_workflow_handle(temporal.owner_id(runbook.runbook))
    await eventually_async(lambda: _healthy(owner), 90, 0.2, "the pair healthy and every machine continuous")
    pid_file = Layout(config.state_dir, runbook.runbook).pid("primary", "db1")
    killed = running_pid(pid_file)
    assert killed is not None, "db1 does not run at primary"
    os.kill(killed, signal.SIGKILL)
    await eventually_async(lambda: _event(owner, "db at primary: restarted"), 60, 0.2, "db restarted")
    for action in ("pause", "resume"):
        await owner.execute_update("monitor", MonitorCommand(action=action, by="operator"), result_type=str)
    await temporal.protect(client, config, ProtectRequest(runbook=runbook, stop=True))
    await eventually_async(lambda: _at_rest(owner), 90, 0.2, "the owner waiting for nothing")
    return [owner.id]


async def _status(owner: WorkflowHandle) -> OwnerStatus:
    status: OwnerStatus = await owner.query("status", result_type=OwnerStatus)
    return status


async def _healthy(owner: WorkflowHandle) -> bool:
    status = await _status(owner)
    pair = status.monitor.pairs.get("shop") if status.monitor else None
    return pair is not None and pair_state(pair) == "healthy" and len(status.machines) == 3 and all(
        m.phase == "continuous" for m in status.machines)


async def _event(owner: WorkflowHandle, text: str) -> bool:
    status = await _status(owner)
    return status.monitor is not None and any(text in event for event in status.monitor.events)


async def _at_rest(owner: WorkflowHandle) -> bool:
    return at_rest(list((await owner.fetch_history()).events))
