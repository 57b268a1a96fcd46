"""The protect monitor's application watch on the sample shop: real processes killed, restarted, switched over.

Real Temporal dev server, real shop processes on 127.0.0.1; a kill is SIGKILL of the machine's process, as a
crash would be. Each test protects its own copy of the shop with a pair whose monitor checks every second.
"""

import asyncio
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Replayer

from activities.sites.local import replication
from activities.sites.local.processes import running_pid
from sampleapp.db import LOG_NAME, read_log
from standby import client as temporal
from standby.cli import main
from standby.contracts import attributes
from standby.contracts.attributes import MONITOR
from standby.contracts.local_layout import Layout
from standby.contracts.protect import OwnerStatus
from standby.contracts.state import OwnerInput
from standby.converter import DATA_CONVERTER
from standby.runbook import Runbook
from tests.conftest import free_block
from tests.helpers import eventually_async
from tests.ops_helpers import (
    owner_status,
    place_order,
    public_port,
    runbook_variant,
    serves_all,
    start_protect,
    stop_workflows,
)
from workflows.owner import ROUNDS_PER_RUN
from workflows.registry import WORKFLOWS

INTERVAL = 1.0

# How the owner's history names an operation the monitor requested.
MONITOR_REQUEST = " {} requested by monitor (the protect monitor, as the runbook's pairs say)"


def with_pair(monitor: dict) -> dict:
    """A runbook edit: the shop's apps in one pair of primary and dr, watched by `monitor`."""
    def edit(document: dict) -> None:
        document["pairs"] = {"shop": {"primary": "primary", "secondary": "dr", "apps": ["db", "api", "web"],
                                      "monitor": {"interval": f"{INTERVAL}s", **monitor}}}
    return edit


@pytest.fixture
async def monitored(client, task_queue, worker, shop_file):
    """`await monitored(monitor)`: a protected shop variant whose pair has that monitor; ended with the test."""
    handles = []

    async def protect(monitor: dict) -> Runbook:
        runbook = runbook_variant(shop_file, edit=with_pair(monitor))
        handles.append(await start_protect(client, runbook, task_queue))
        return runbook

    yield protect
    await stop_workflows(*handles)


def kill(state_dir: Path, runbook: Runbook, site: str, machine: str) -> int:
    """SIGKILL a machine's live process, as a crash; its pid."""
    pid = running_pid(Layout(state_dir, runbook.runbook).pid(site, machine))
    assert pid is not None, f"{machine} does not run at {site}"
    os.kill(pid, signal.SIGKILL)
    return pid


async def restarted(state_dir: Path, runbook: Runbook, site: str, machine: str, old: int, timeout: float) -> int:
    """The pid of the machine's new process once it runs and answers on its port."""
    pid_file = Layout(state_dir, runbook.runbook).pid(site, machine)

    def answered() -> int | None:
        pid = running_pid(pid_file)
        return pid if pid not in (None, old) else None

    return await eventually_async(answered, timeout, 0.05, f"{machine} restarted at {site}")


async def test_a_killed_app_is_restarted_within_two_intervals_then_switched_over(client, monitored, state_dir):
    """Kill db: restarted at primary within two monitor intervals; kill it again past its one restart: its
    group (data) switches over to dr, and every order acknowledged before is still served."""
    runbook = await monitored({"threshold": 1, "restart": {"times": 1, "spacing": "1s"}, "then": "switchover"})
    web = public_port(runbook, "web")
    orders = [(await place_order(web, f"before-{n}"))["item"] for n in range(3)]

    killed, at = kill(state_dir, runbook, "primary", "db1"), time.monotonic()
    await restarted(state_dir, runbook, "primary", "db1", killed, timeout=2 * INTERVAL)
    took = time.monotonic() - at
    await serves_all(web, orders)
    async def recorded() -> OwnerStatus | None:
        # the process is back a moment before the owner records the restart's outcome
        status = await owner_status(client, runbook)
        done = status.monitor is not None and any("db at primary: restarted" in e for e in status.monitor.events)
        return status if done else None

    status = await eventually_async(recorded, 10, 0.1, "the restart recorded in the monitor's events")
    assert status.monitor is not None
    assert any("db at primary: fault" in e and "restart 1 of 1" in e for e in status.monitor.events), status.monitor
    assert took <= 2 * INTERVAL

    orders.append((await place_order(web, "after-restart"))["item"])
    kill(state_dir, runbook, "primary", "db1")

    async def switched() -> OwnerStatus | None:
        current = await owner_status(client, runbook)
        db = current.truth.apps["db"]
        done = (db.phase, db.serving, db.source) == ("protected", "dr", "dr") and current.truth.operation is None
        return current if done else None

    final = await eventually_async(switched, 60, 0.2, "db switched over to dr")
    assert [final.truth.apps[a].serving for a in ("api", "web")] == ["primary", "primary"], "only db's group moves"
    assert MONITOR_REQUEST.format("switchover") in final.truth.history[-1]
    assert final.truth.history[-1].endswith(": switched_over")
    assert any("switchover of group data (db) started" in e for e in final.monitor.events)
    await serves_all(web, orders)
    assert running_pid(Layout(state_dir, runbook.runbook).pid("primary", "db1")) is None


async def test_a_restart_that_could_not_start_the_app_is_followed_at_once_by_the_next(client, monitored, state_dir):
    """Kill db and put a file where its data folder was: the restart cannot start it. The app is down, not flapping,
    so its next fault restarts it again at once, not after the minute's spacing; with its folder back, that one
    holds."""
    runbook = await monitored({"threshold": 1, "restart": {"times": 2, "spacing": "60s"}, "then": "alert"})
    data = Layout(state_dir, runbook.runbook).data("primary", "db1")
    aside = data.with_name("data.aside")
    killed = kill(state_dir, runbook, "primary", "db1")
    data.rename(aside)
    data.write_text("not a folder")

    async def events(text: str) -> list[str] | None:
        status = await owner_status(client, runbook)
        found = status.monitor is not None and any(text in e for e in status.monitor.events)
        return status.monitor.events if found and status.monitor is not None else None

    try:
        await eventually_async(lambda: events("db at primary: restart failed"), 30, 0.1, "the restart failing")
    finally:
        data.unlink()
        aside.rename(data)
    failed = time.monotonic()
    await restarted(state_dir, runbook, "primary", "db1", killed, timeout=20)
    assert time.monotonic() - failed < 20, "the second restart waited for the spacing"
    seen = await eventually_async(lambda: events("db at primary: restarted"), 10, 0.1, "the second restart recorded")
    assert any("restart 2 of 2 (restart 1 could not start it)" in e for e in seen), seen


async def test_paused_monitor_acts_on_nothing_until_resumed(client, monitored, state_dir):
    """`standby protect pause`: a killed app stays down (the fault is recorded, status and the search attribute say
    paused); `standby protect resume`: it is restarted."""
    runbook = await monitored({"threshold": 1, "restart": {"times": 3, "spacing": "1s"}})
    handle = client.get_workflow_handle(temporal.owner_id(runbook.runbook))
    paused = await asyncio.to_thread(cli, client, "protect", "pause", runbook.runbook, "--by", "tester",
                                     "--reason", "patching")
    as_given = "tester (not verified: the runbook names no directory)"
    assert (paused.exit_code, paused.output) == (0, f"monitor of {runbook.runbook} paused by {as_given}\n")
    assert (await handle.describe()).typed_search_attributes.get(MONITOR) == "paused"
    shown = await asyncio.to_thread(cli, client, "status", runbook.runbook)
    assert f"monitor: paused by {as_given} (maintenance mode)" in shown.output
    assert f"paused by {as_given}: patching" in shown.output

    killed = kill(state_dir, runbook, "primary", "db1")
    await eventually_async(lambda: _paused_fault_seen(client, runbook), 10, 0.2, "the fault recorded while paused")
    await asyncio.sleep(3 * INTERVAL)  # three more checks' worth: nothing may restart it meanwhile
    assert running_pid(Layout(state_dir, runbook.runbook).pid("primary", "db1")) is None

    resumed = await asyncio.to_thread(cli, client, "protect", "resume", runbook.runbook)
    assert resumed.exit_code == 0, resumed.output
    await restarted(state_dir, runbook, "primary", "db1", killed, timeout=3 * INTERVAL)
    assert (await handle.describe()).typed_search_attributes.get(MONITOR) == "watching"


def test_pausing_a_runbook_that_is_not_protected_is_refused(client) -> None:
    result = cli(client, "protect", "pause", "no-such-runbook")
    assert result.exit_code == 1
    assert "standby/no-such-runbook" in result.output


def cli(client, *args: str):
    """`standby ARGS` in-process against the test's Temporal server (its own event loop: call it in a thread)."""
    env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host, "COLUMNS": "250"}
    return CliRunner().invoke(main, list(args), env=env)


async def _paused_fault_seen(client, runbook: Runbook) -> bool:
    status = await owner_status(client, runbook)
    return status.monitor is not None and any("paused, no action" in e for e in status.monitor.events)


async def test_a_rule_acts_once_its_threshold_has_held_for_its_duration_and_not_before(client, monitored):
    """memory (psutil: resident MiB of each app's process) above 1 for 4s: each app's rule acts once it has held
    4 s since the reading that first passed the threshold, not before; then its hold starts again."""
    hold = timedelta(seconds=4)
    runbook = await monitored({"rules": [{"metric": "memory", "above": 1, "for": "4s", "action": "alert"}]})

    async def fired_twice() -> list | None:
        status = await owner_status(client, runbook)
        hits = [h for h in status.monitor.hits if h.app == "db"] if status.monitor else []
        return hits if len(hits) >= 2 else None

    hits = await eventually_async(fired_twice, 30, 0.2, "db's memory rule acting twice")
    for hit in hits:
        assert hold <= hit.at - hit.since <= hold + timedelta(seconds=INTERVAL + 1), hit
        assert hit.value > 1 and hit.describe == "memory above 1 for 4s"
    assert hits[1].since >= hits[0].at, "the second hold began after the first acted"
    status = await owner_status(client, runbook)
    assert any("ALERT rule_held at primary: db: rule memory above 1 for 4s held" in e for e in status.monitor.events)
    assert status.monitor.readings["db"].metrics["memory"] > 1


def items_in_latest_point(points: Path) -> list[str]:
    """The orders in the newest recovery point of a db machine replicated into a site."""
    latest = replication.latest_point(points)
    return [] if latest is None else [o["item"] for o in read_log(latest.path / LOG_NAME)[0]]


async def test_a_trio_replicates_to_its_tertiary_and_status_shows_it(client, task_queue, worker, shop_file, state_dir):
    """A third local site as the pair's tertiary: every machine continuous there, an order in its latest point."""
    def trio(document: dict) -> None:
        document["sites"]["branch"] = {"provider": "local", "port_base": free_block(3)}
        document["pairs"] = {"shop": {"primary": "primary", "secondary": "dr", "tertiary": "branch",
                                      "apps": ["db", "api", "web"]}}

    runbook = runbook_variant(shop_file, edit=trio)
    handle = await start_protect(client, runbook, task_queue)
    try:
        item = (await place_order(public_port(runbook, "web"), "kept at the branch"))["item"]
        points = Layout(state_dir, runbook.runbook).points("branch", "db1")

        async def copied() -> OwnerStatus | None:
            status = await owner_status(client, runbook)
            copies = status.monitor.tertiary.get("shop", []) if status.monitor else []
            done = {m.machine for m in copies if m.phase == "continuous"} == set(runbook.machines)
            return status if done and item in items_in_latest_point(points) else None

        status = await eventually_async(copied, 40, 0.5, "the trio's copy at branch continuous, with the order")
        shown = await asyncio.to_thread(cli, client, "status", runbook.runbook)
        assert "trio shop: copy at its tertiary" in shown.output
        assert all(m.points >= 1 for m in status.monitor.tertiary["shop"])
    finally:
        await stop_workflows(handle)


async def test_the_monitor_survives_continue_as_new_and_its_history_replays(client, task_queue, worker, shop_file,
                                                                             state_dir):
    """An owner one round from continuing as new: its next run keeps the monitor's memory and acts again; the
    first run's history, monitor loops and all, replays deterministically."""
    runbook = runbook_variant(shop_file, edit=with_pair({"threshold": 1, "restart": {"times": 5, "spacing": "1s"}}))
    owner = temporal.owner_id(runbook.runbook)
    # Three rounds (15 s) before it continues as new: room to restart db once in the first run.
    first = await client.start_workflow(
        "Runbook", OwnerInput(runbook=runbook, rounds=ROUNDS_PER_RUN - 3), id=owner, task_queue=task_queue,
        search_attributes=TypedSearchAttributes([SearchAttributePair(attributes.RUNBOOK, runbook.runbook),
                                                 SearchAttributePair(attributes.SITES, sorted(runbook.sites))]))
    handle = await start_protect(client, runbook, task_queue)
    try:
        killed = kill(state_dir, runbook, "primary", "db1")
        await restarted(state_dir, runbook, "primary", "db1", killed, timeout=10)
        in_first = client.get_workflow_handle(owner, run_id=first.result_run_id)
        before = await eventually_async(lambda: _restart_event(in_first), 5, 0.1, "the restart recorded")

        async def renewed() -> bool:
            return (await handle.describe()).run_id != first.result_run_id

        await eventually_async(renewed, 30, 0.2, "the owner continued as new")
        status = await owner_status(client, runbook)
        assert status.monitor is not None and before in status.monitor.events, "the events carried over"
        assert status.monitor.ladders["db"].restarts, "the ladder's memory carried over"
        killed = kill(state_dir, runbook, "primary", "db1")
        await restarted(state_dir, runbook, "primary", "db1", killed, timeout=10)
        history = await in_first.fetch_history()
        replayed = await Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER).replay_workflow(history)
        assert replayed.replay_failure is None
    finally:
        await stop_workflows(handle)


async def _restart_event(handle) -> str | None:
    status = await handle.query("status", result_type=OwnerStatus)
    return next((e for e in status.monitor.events if "db at primary: restarted" in e), None) if status.monitor else None
