"""Protection through the runbook's owner on the Temporal dev server: bring-up, replication rounds, status, stop."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from click.testing import CliRunner
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from activities.sites.local import replication
from sampleapp.db import LOG_NAME, read_log
from standby import client as temporal
from standby.cli import main
from standby.contracts.local_layout import Layout
from standby.contracts.protect import OwnerStatus
from standby.contracts.sites import public_ports
from standby.contracts.state import ProtectRequest
from tests.helpers import eventually_async, get_json, post_order
from tests.ops_helpers import runbook_variant, settings_for, stop_workflows

MACHINES = {"db1", "app1", "web1"}


def continuous(status: OwnerStatus, machines: set[str]) -> bool:
    """Every machine in continuous data protection, with a lag and a latest point."""
    seen = {m.machine: m for m in status.machines}
    return set(seen) == machines and all(
        m.phase == "continuous" and m.lag_seconds is not None and m.latest_point is not None and m.points >= 1
        for m in seen.values())


def items_in_latest_point(points_dir: Path) -> list[str]:
    latest = replication.latest_point(points_dir)
    return [] if latest is None else [o["item"] for o in read_log(latest.path / LOG_NAME)[0]]


def standby_status(client: Client, state_dir: Path, ident: str):
    """`standby status <ident>` in-process, against the test's Temporal server (its own event loop, in a thread)."""
    env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host, "STANDBY_STATE": str(state_dir),
           "COLUMNS": "200"}
    return CliRunner().invoke(main, ["status", ident], env=env)


async def rounds_ended(handle: WorkflowHandle) -> bool:
    """Whether the owner's last replication round has ended and the workflow task that saw it end started none."""
    kinds = [event.event_type async for event in handle.fetch_history_events()]
    ended = max((i for i, kind in enumerate(kinds) if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED),
                default=len(kinds))
    after = kinds[ended + 1:]
    return EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED in after and \
        EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in after


async def test_protect_brings_the_shop_up_replicates_it_and_stops(client: Client, task_queue: str, worker,
                                                                   shop_file: Path, state_dir: Path) -> None:
    runbook = runbook_variant(shop_file)
    name, ports, layout = runbook.runbook, public_ports(runbook), Layout(state_dir, runbook.runbook)
    settings = settings_for(task_queue)
    answer = await temporal.protect(client, settings, ProtectRequest(runbook=runbook, requested_by="tester"))
    assert answer == f"protecting {name}"
    handle = client.get_workflow_handle(temporal.owner_id(name))
    try:
        # bring-up: every tier answers through its public endpoint, at primary
        for app in ("db", "api", "web"):
            health = await eventually_async(lambda app=app: asyncio.to_thread(get_json, ports[app], "/health", 1), 20,
                                            what=f"{app} healthy through its public endpoint")
            assert health["status"] == "ok"
        for machine in MACHINES:
            assert (layout.pid("primary", machine)).exists() and not layout.pid("dr", machine).exists()

        async def status() -> OwnerStatus:
            return await handle.query("status", result_type=OwnerStatus)

        first = await eventually_async(lambda: _when(status(), lambda s: continuous(s, MACHINES)), 20,
                                       what="every machine continuous")
        assert first.truth.protecting
        assert {app: (s.phase, s.serving, s.source, s.target, s.replicating) for app, s in first.truth.apps.items()} \
            == {app: ("protected", "primary", "primary", "dr", True) for app in ("db", "api", "web")}
        before = {m.machine: m.latest_point for m in first.machines}

        # a write through the web endpoint reaches a new recovery point at dr
        order = await asyncio.to_thread(post_order, ports["web"], "through the web endpoint", 2)
        assert order["item"] == "through the web endpoint"
        points = layout.points("dr", "db1")
        await eventually_async(lambda: "through the web endpoint" in items_in_latest_point(points), 10,
                               what="the order in dr's latest point of db1")

        # the operator's view of it
        result = await asyncio.to_thread(standby_status, client, state_dir, name)
        assert result.exit_code == 0, result.output
        assert f"runbook {name}: epoch 0, protecting" in result.output
        apps = [line for line in result.output.splitlines() if "protected primary -> dr" in line]
        assert len(apps) == 3, result.output
        table = [line for line in result.output.splitlines() if any(m in line for m in MACHINES)]
        assert len(table) == 3 and all("continuous" in line for line in table), result.output
        assert "changed (round/total)" in result.output and "sent (round/total)" in result.output

        # stop ends protection after the current round, whose status has the point with the order
        stopped = await temporal.protect(client, settings, ProtectRequest(runbook=runbook, stop=True))
        assert stopped == f"protection of {name} stops after its current round"
        await eventually_async(lambda: rounds_ended(handle), 15, what="the owner's rounds ended")
        final = await status()
        assert not final.truth.protecting and continuous(final, MACHINES) and final.rounds > first.rounds
        latest = {m.machine: m.latest_point for m in final.machines}
        assert latest["db1"] > before["db1"] and latest["db1"] == replication.latest_point(points).time
        # the bytes of the order's pass: counted in db1's total, carried by the round's result into the status
        was, now = (next(m for m in s.machines if m.machine == "db1") for s in (first, final))
        assert was.total is not None and now.total is not None and now.last_round is not None
        assert now.total.changed_bytes > was.total.changed_bytes and now.total.sent_bytes > was.total.sent_bytes

        # nothing replicates any more (two replication intervals: the one wait no condition can replace), while
        # the owner keeps holding the runbook's truth
        await asyncio.to_thread(post_order, ports["web"], "after protection stopped", 2)
        await asyncio.sleep(2 * runbook.sites["primary"].replication_interval.total_seconds())
        assert await rounds_ended(handle) and await status() == final
        assert replication.latest_point(points).time == latest["db1"]
        assert "after protection stopped" not in items_in_latest_point(points)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    finally:
        await stop_workflows(handle)


async def _when(awaitable, predicate):
    """The awaited value when it satisfies the predicate, else None (for eventually_async)."""
    value = await awaitable
    return value if predicate(value) else None


def test_status_of_an_unknown_runbook_says_so(client: Client, state_dir: Path) -> None:
    result = standby_status(client, state_dir, f"nothing-{os.getpid()}")
    assert result.exit_code == 1
    assert "Temporal refused" in result.output
