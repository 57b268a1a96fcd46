"""Benchmark: what a client of the sample shop sees when things fail, over repeated runs of a continuity pair.

    python -m bench.availability [--runs 3] [--json]

Each run protects runbooks/shop-pair.yaml (two local sites, each with its own `worker.py --site` process, two
witnesses, automatic failover, a monitor checking every second) on a Temporal dev server, with a client placing
an order every 20 ms through the public web endpoint, and measures:

- restart: db's process SIGKILLed, until the public db endpoint answers again (the monitor restarts it);
- switchover: an operator's planned switchover, the longest time no order was acknowledged, and the orders
  acknowledged but not served afterwards;
- site death: the active site's worker and processes SIGKILLed, until the passive detects it (its suspicion),
  until orders are acknowledged again (RTO), and the orders acknowledged before but not served after.

Prints min / median / max of each figure and the machine's cores.
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from bench.cluster import Cluster, free_ports, order, pair_runbook, served
from bench.output import figures_out
from standby import client as temporal
from standby.contracts import attributes
from standby.contracts.state import OperationRequest
from standby.converter import DATA_CONVERTER

FAST_MONITOR = {"interval": "1s", "threshold": 1, "restart": {"times": 10, "spacing": "1s"}}


@dataclass
class Writer:
    """A client placing an order every 20 ms through the public web endpoint, keeping when each was acknowledged."""

    port: int
    acknowledged: list[tuple[float, str]] = field(default_factory=list)
    sent: dict[str, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Write until told to stop."""
        n = 0
        while not self.stop.is_set():
            n += 1
            item = f"w{n}"
            self.sent[item] = time.monotonic()
            if order(self.port, item):
                self.acknowledged.append((time.monotonic(), item))
            time.sleep(0.02)

    def gap(self, after: float) -> float:
        """The longest time between two acknowledgements from `after` on."""
        times = [t for t, _ in self.acknowledged if t >= after]
        return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)

    def first_after(self, moment: float) -> float | None:
        """When the first order placed after `moment` was acknowledged."""
        return next((t for t, item in self.acknowledged if self.sent[item] > moment), None)


async def lost(cluster: Cluster, writer: Writer, before: float, timeout: float = 30) -> int:
    """Orders acknowledged before `before` that the shop does not serve, once it serves at all."""
    wanted = {item for t, item in writer.acknowledged if t <= before}
    deadline = time.monotonic() + timeout
    missing = wanted
    while time.monotonic() < deadline:
        items = await asyncio.to_thread(served, cluster.db)
        if items is not None:
            missing = wanted - set(items)
            if not missing:
                break
        await asyncio.sleep(0.2)
    return len(missing)


async def restart(cluster: Cluster) -> float:
    """Seconds from db's process killed until the public db endpoint answers again."""
    site = next(iter({s.serving for s in (await cluster.status()).truth.apps.values()}))
    killed = cluster.kill_machine(site, "db1")
    started = time.monotonic()
    while not cluster.machine_up(site, "db1", other_than=killed):
        await asyncio.sleep(0.02)
    while await asyncio.to_thread(served, cluster.db) is None:
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def switchover(cluster: Cluster, writer: Writer) -> tuple[float, int]:
    """The longest time without an acknowledged order during a planned switchover, and the orders it lost."""
    started = time.monotonic()
    ident = await temporal.start(cluster.client, cluster.settings, OperationRequest(
        operation="switchover", runbook=cluster.runbook, yes=True, requested_by="bench"))
    handle = cluster.client.get_workflow_handle(ident.workflow_id)
    await handle.result()
    ended = time.monotonic()
    rounds = (await cluster.status()).rounds
    # Two replication rounds in the new direction, so the site death that follows has points to fail over from.
    await cluster.until(lambda s: s.rounds >= rounds + 2, 60, "replicating in the new direction")
    return writer.gap(started), await lost(cluster, writer, ended)


async def site_death(cluster: Cluster, writer: Writer) -> tuple[float, float, int]:
    """Detection and RTO in seconds after the active site is killed, and the orders lost."""
    status = await cluster.protected_again()
    active = status.truth.apps["db"].serving
    assert active is not None
    cluster.kill_site(active)
    killed, wall = time.monotonic(), time.time()
    done = await cluster.until(lambda s: _last_takeover(s) is not None and s.truth.operation is None, 60,
                               "taken over")
    takeover = _last_takeover(done)
    assert takeover is not None
    await asyncio.sleep(1)
    back = writer.first_after(killed)
    rto = (back - killed) if back is not None else float("nan")
    return takeover.since.timestamp() - wall, rto, await lost(cluster, writer, killed)


def _last_takeover(status):  # type: ignore[no-untyped-def]
    pair = status.monitor.pairs.get("shop") if status.monitor else None
    last = pair.last if pair else None
    return last if last is not None and last.outcome.startswith("failover") else None


async def one_run(env: WorkflowEnvironment, folder: Path) -> dict[str, float]:
    """Every figure of one run, on a cluster of its own."""
    folder.mkdir(parents=True)
    ports = free_ports()
    runbook = pair_runbook(folder, ports, monitor=FAST_MONITOR)
    cluster = Cluster(env.client, f"bench-{uuid.uuid4()}", folder / runbook.runbook, runbook, ports, folder)
    (folder / runbook.runbook).mkdir()
    writer = Writer(cluster.web)
    thread = threading.Thread(target=writer.run, daemon=True)
    try:
        await cluster.start()
        await cluster.protect()
        thread.start()
        figures = {"restart_s": await restart(cluster)}
        figures["switchover_downtime_s"], figures["switchover_lost"] = await switchover(cluster, writer)
        figures["detection_s"], figures["rto_s"], figures["site_death_lost"] = await site_death(cluster, writer)
        return figures
    finally:
        writer.stop.set()
        await cluster.close()
        cluster.stop_processes()


async def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the runs' figures as JSON")
    options = parser.parse_args()
    out = figures_out()
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=shutil.which("temporal"), data_converter=DATA_CONVERTER,
        search_attributes=attributes.ALL,
        dev_server_extra_args=["--dynamic-config-value", "frontend.enableUpdateWorkflowExecution=true"])
    runs = []
    try:
        with tempfile.TemporaryDirectory(prefix="standby-bench-") as folder:
            for index in range(options.runs):
                runs.append(await one_run(env, Path(folder) / f"run{index}"))
                print(f"run {index + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in runs[-1].items()), flush=True)
    finally:
        await env.shutdown()
    if options.json:
        print(json.dumps(runs, indent=2), file=out)
        return
    print(f"\n{options.runs} runs on {os.cpu_count()} cores (min / median / max)", file=out)
    for key in runs[0]:
        values = [run[key] for run in runs]
        print(f"  {key:24} {min(values):7.2f} {statistics.median(values):7.2f} {max(values):7.2f}", file=out)


if __name__ == "__main__":
    asyncio.run(main())
