"""The Protect workflow on the Temporal dev server: bring-up, continuous replication, status query and CLI, stop."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from click.testing import CliRunner
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy

from activities.sites.local import replication
from sampleapp.db import LOG_NAME, read_log
from standby.cli import main
from standby.contracts import attributes
from standby.contracts.local_layout import Layout
from standby.contracts.protect import ProtectInput, ProtectStatus
from standby.contracts.sites import public_ports
from standby.loader import load
from tests.helpers import eventually_async, get_json, post_order


def continuous(status: ProtectStatus, machines: set[str]) -> bool:
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


async def test_protect_brings_the_shop_up_replicates_it_and_stops(client: Client, task_queue: str, worker,
                                                                   shop_file: Path, state_dir: Path) -> None:
    runbook = load(shop_file)
    ports = public_ports(runbook)
    layout = Layout(state_dir, runbook.runbook)
    search = TypedSearchAttributes([SearchAttributePair(attributes.RUNBOOK, runbook.runbook),
                                    SearchAttributePair(attributes.OPERATION, "protect")])
    handle = await client.start_workflow(
        "Protect", ProtectInput(runbook=runbook), id="standby/shop/protect", task_queue=task_queue,
        result_type=ProtectStatus, search_attributes=search,
        id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
    )
    try:
        # bring-up: every tier answers through its public endpoint, at primary
        for app in ("db", "api", "web"):
            health = await eventually_async(lambda: asyncio.to_thread(get_json, ports[app], "/health", 1), 20,
                                            what=f"{app} healthy through its public endpoint")
            assert health["status"] == "ok"
        for machine in ("db1", "app1", "web1"):
            assert (layout.pid("primary", machine)).exists() and not layout.pid("dr", machine).exists()

        async def status() -> ProtectStatus:
            return await handle.query("status", result_type=ProtectStatus)

        first = await eventually_async(lambda: _when(status(), lambda s: continuous(s, {"db1", "app1", "web1"})), 20,
                                       what="every machine continuous")
        assert first.serving == {"db": "primary", "api": "primary", "web": "primary"}
        assert (first.state.active, first.state.replication_source, first.state.replication_target) == \
            ("primary", "primary", "dr")
        before = {m.machine: m.latest_point for m in first.machines}

        # a write through the web endpoint reaches a new recovery point at dr
        order = await asyncio.to_thread(post_order, ports["web"], "through the web endpoint", 2)
        assert order["item"] == "through the web endpoint"
        points = layout.points("dr", "db1")
        await eventually_async(lambda: "through the web endpoint" in items_in_latest_point(points), 10,
                               what="the order in dr's latest point of db1")

        # the operator's view of it
        result = await asyncio.to_thread(standby_status, client, state_dir, "shop")
        assert result.exit_code == 0, result.output
        assert "protection of shop" in result.output and "active primary" in result.output
        table = [line for line in result.output.splitlines() if any(m in line for m in ("db1", "app1", "web1"))]
        assert len(table) == 3 and all("continuous" in line for line in table), result.output

        # stop ends it after the current round, whose status has the point with the order
        await handle.signal("stop")
        final = await asyncio.wait_for(handle.result(), 15)
        assert final.runbook == "shop" and continuous(final, {"db1", "app1", "web1"}) and final.rounds > first.rounds
        latest = {m.machine: m.latest_point for m in final.machines}
        assert latest["db1"] > before["db1"] and latest["db1"] == replication.latest_point(points).time
        assert await handle.query("status", result_type=ProtectStatus) == final
        assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    finally:
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await handle.terminate("test over")


async def _when(awaitable, predicate):
    """The awaited value when it satisfies the predicate, else None (for eventually_async)."""
    value = await awaitable
    return value if predicate(value) else None


def test_status_of_an_unknown_runbook_says_so(client: Client, state_dir: Path) -> None:
    result = standby_status(client, state_dir, f"nothing-{os.getpid()}")
    assert result.exit_code == 1
    assert "Temporal refused" in result.output
