"""The worst day: the primary site is gone, its machines, its disks and the worker beside them.

Two `python worker.py --site NAME` processes, one per site, each with its own state folder, on one dev server;
each local site keeps its data at a `path:` of its own. Mid-protection the primary's worker and every process
of the primary are killed with SIGKILL and its folder is taken away. `standby failover` then completes from
the dr worker alone: the stop of the unreachable source is fenced past its deadline, every app answers
through its public endpoint, and the shop serves a consistent prefix of what it acknowledged.
"""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from standby.contracts.operations import OperationResult
from tests.helpers import eventually_async
from tests.ops_helpers import (
    finished,
    owner_status,
    place_order,
    request,
    runbook_variant,
    served_items,
    start_protect,
    stop_runbook,
)

ROOT = Path(__file__).resolve().parent.parent


def site_worker(client, task_queue: str, site: str, state: Path, logs: Path) -> subprocess.Popen:
    """`python worker.py --site SITE` with a state folder of its own."""
    env = {**os.environ, "TEMPORAL_ADDRESS": client.service_client.config.target_host,
           "TEMPORAL_NAMESPACE": client.namespace, "STANDBY_STATE": str(state), "STANDBY_TASK_QUEUE": task_queue}
    state.mkdir(parents=True, exist_ok=True)
    with open(logs / f"worker-{site}.log", "wb") as log:
        return subprocess.Popen([sys.executable, "worker.py", "--site", site], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def kill_processes_under(folder: Path) -> list[int]:
    """SIGKILL every process whose command line names the folder: the site's apps and proxies."""
    killed = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        if any(str(folder) in part for part in process.info["cmdline"] or []):
            try:
                process.send_signal(signal.SIGKILL)
                killed.append(process.pid)
            except psutil.NoSuchProcess:
                pass
    return killed


async def test_failover_completes_from_the_dr_worker_when_the_primary_site_is_gone(
        client, task_queue, shop_file: Path, tmp_path: Path) -> None:
    primary_path, dr_path = tmp_path / "site-primary", tmp_path / "site-dr"

    def two_places(document: dict) -> None:
        document["sites"]["primary"]["path"] = str(primary_path)
        document["sites"]["dr"]["path"] = str(dr_path)
        document["protection"]["stop_deadline"] = "5s"
        document["hooks"] = []

    runbook = runbook_variant(shop_file, edit=two_places)
    web = runbook.apps["web"].endpoint.port  # type: ignore[union-attr]
    workers = {site: site_worker(client, task_queue, site, tmp_path / f"state-{site}", tmp_path)
               for site in ("primary", "dr")}
    try:
        await start_protect(client, runbook, task_queue)
        acknowledged = [(await place_order(web, f"before-the-disaster-{n}"))["item"] for n in range(5)]
        await asyncio.sleep(3)  # a few replication rounds carry them to dr

        # The disaster: the primary worker, every primary process, and the primary's disks.
        workers["primary"].send_signal(signal.SIGKILL)
        workers["primary"].wait()
        assert kill_processes_under(primary_path), "nothing ran at the primary site"
        primary_path.rename(tmp_path / "site-primary-lost")

        result: OperationResult = await finished(await request(client, runbook, task_queue, "failover", yes=True,
                                                               force=True), timeout=180)
        assert result.state == "failed_over"
        assert sorted(a.app for a in result.apps) == ["api", "db", "web"]
        stops = [s for s in result.steps if s.name.startswith("stop ")]
        assert stops and all("fenced" in s.detail for s in stops), [(s.name, s.detail) for s in stops]
        status = await owner_status(client, runbook)
        assert {app: (s.phase, s.serving) for app, s in status.truth.apps.items()} == {
            "db": ("failed_over", "dr"), "api": ("failed_over", "dr"), "web": ("failed_over", "dr")}

        async def served() -> list[str] | None:
            try:
                return await served_items(web)
            except (AssertionError, OSError):
                return None

        items = await eventually_async(served, 30, 0.5, "the shop answering from dr through its public endpoint")
        # A consistent prefix of what the shop acknowledged: nothing made up, nothing out of order.
        assert items == acknowledged[: len(items)], (items, acknowledged)
        assert items, "no acknowledged write reached dr"
    finally:
        for process in workers.values():
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
        for folder in (dr_path, tmp_path / "site-primary-lost", primary_path):
            kill_processes_under(folder)
        await stop_runbook(client, runbook.runbook)
