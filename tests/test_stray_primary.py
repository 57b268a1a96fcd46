"""An old primary that comes back after a failover, end to end: real processes, real ports, the real dev server.

After the shop failed over to dr, its db is started again by hand at primary, on primary's port and data folder,
with the command line Standby starts it with. `standby status` reports it; the next `standby failback` stops it
before it launches at primary and never counts it as the launch; the shop then serves every acknowledged write.
"""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from activities.sites.local.processes import port_open
from standby.cli import main
from standby.contracts.local_layout import Layout
from standby.contracts.operations import OperationResult
from standby.contracts.protect import OwnerStatus
from standby.runbook import LocalSite, Runbook
from tests.helpers import eventually, eventually_async
from tests.ops_helpers import (
    finished,
    launches,
    owner_status,
    place_order,
    public_port,
    request,
    runbook_variant,
    served_items,
    start_protect,
    stop_workflows,
)

ROOT = Path(__file__).resolve().parent.parent


def restart_by_hand(runbook: Runbook, state_dir: Path) -> subprocess.Popen:
    """primary's db1 started as an operator would: Standby's own command line, outside Standby."""
    layout, site = Layout(state_dir, runbook.runbook), runbook.sites["primary"]
    assert isinstance(site, LocalSite)
    port = site.port_base + list(runbook.machines).index("db1")
    argv = [sys.executable, "-m", "sampleapp.db", "--port", str(port), "--data", str(layout.data("primary", "db1"))]
    stray = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    eventually(lambda: port_open(port), 15, 0.05, "the hand-started db listening at primary")
    return stray


async def test_an_old_primary_restarted_by_hand_is_reported_stopped_by_failback_and_no_write_is_lost(
        client, task_queue, temporal_env, worker, shop_file: Path, state_dir: Path) -> None:
    runbook = runbook_variant(shop_file, edit=lambda document: document.update(hooks=[]))
    web = public_port(runbook, "web")
    owner = await start_protect(client, runbook, task_queue)
    stray = None
    try:
        acknowledged = [(await place_order(web, f"before-failover-{n}"))["item"] for n in range(3)]
        await finished(await request(client, runbook, task_queue, "failover", yes=True, force=True), timeout=120)
        acknowledged += [(await place_order(web, f"at-dr-{n}"))["item"] for n in range(3)]
        stray = restart_by_hand(runbook, state_dir)

        async def reported() -> OwnerStatus | None:
            status = await owner_status(client, runbook)
            db1 = next((m for m in status.machines if m.machine == "db1"), None)
            return status if db1 is not None and f"pid {stray.pid} (" in db1.detail else None

        status = await eventually_async(reported, 30, 0.5, f"status reporting pid {stray.pid} at primary")
        [db1] = [m for m in status.machines if m.machine == "db1"]
        assert "serves db1 at primary but Standby did not start it" in db1.detail, db1.detail
        assert [(s.pid, s.started_by_standby) for s in db1.serving if s.pid == stray.pid] == [(stray.pid, False)]
        env = {"TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
               "STANDBY_TASK_QUEUE": task_queue, "COLUMNS": "400"}
        shown = await asyncio.to_thread(CliRunner().invoke, main, ["status", runbook.runbook], env=env)
        assert shown.exit_code == 0 and f"pid {stray.pid} (" in shown.output, shown.output

        result: OperationResult = await finished(await request(client, runbook, task_queue, "failback", yes=True),
                                                 timeout=180)
        assert result.state == "failed_back", result.error
        assert stray.wait(timeout=10) is not None, "the hand-started db still runs after the failback"
        reversed_ = next(s for s in result.steps if s.name.startswith("replicate dr -> primary"))
        assert f"stopped pid {stray.pid} (" in reversed_.detail, reversed_.detail
        # Launched at primary by the failback itself, once: the stray was never taken for the launch.
        assert launches(state_dir, runbook.runbook, "primary", f"standby/{runbook.runbook}/failback/") == {
            "db1": 1, "app1": 1, "web1": 1}

        async def every_write() -> list[str] | None:
            try:
                items = await served_items(web)
            except (AssertionError, OSError):
                return None
            return items if items == acknowledged else None

        await eventually_async(every_write, 30, 0.5, f"the shop serving {acknowledged} from primary")
    finally:
        if stray is not None and stray.poll() is None:
            os.killpg(stray.pid, 9)
            stray.wait()
        await stop_workflows(owner)
