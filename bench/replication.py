"""Benchmark: what crosses between the shop's sites under a steady write load, against a copy of each changed file.

    python bench/replication.py [--seconds 60] [--rate 20] [--orders 20000] [--json]

Runs the sample shop (runbooks/shop.yaml, on free ports) protected from primary to dr on a Temporal dev
server and a worker of both sites, with a db that already holds `--orders` orders. A writer then places
`--rate` orders a second through the public web endpoint for `--seconds`. The figures come from
`standby status` (the runbook owner's machines): the bytes the data changed, the bytes a copy of every
changed file would send, the bytes that crossed, and their ratio, whose target is at most 0.20. They are
taken once dr's latest recovery point of the db holds the source's order log byte for byte.
"""

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from activities import registry  # noqa: E402
from activities.sites.local import replication  # noqa: E402
from activities.sites.local.processes import free_block  # noqa: E402
from bench.output import figures_out  # noqa: E402
from sampleapp.db import LOG_NAME, encode_line  # noqa: E402
from standby import client as temporal  # noqa: E402
from standby import demo, traffic  # noqa: E402
from standby.config import Settings  # noqa: E402
from standby.contracts import attributes  # noqa: E402
from standby.contracts.local_layout import Layout  # noqa: E402
from standby.contracts.protect import OwnerStatus  # noqa: E402
from standby.contracts.sites import Transfer, public_ports  # noqa: E402
from standby.contracts.state import ProtectRequest  # noqa: E402
from standby.converter import DATA_CONVERTER  # noqa: E402
from standby.loader import load  # noqa: E402
from standby.runbook import Runbook  # noqa: E402
from worker import SiteWorkers  # noqa: E402
from workflows.registry import WORKFLOWS  # noqa: E402

TARGET = 0.20


def arguments() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the write load runs")
    parser.add_argument("--rate", type=float, default=20.0, help="orders a second the writer places")
    parser.add_argument("--orders", type=int, default=20000, help="orders the db holds before protection starts")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser.parse_args()


def shop_on_free_ports() -> Runbook:
    """The sample shop with its sites, drill targets and public endpoints moved onto free ports."""
    runbook = load(ROOT / "runbooks" / "shop.yaml")
    document = runbook.model_dump(mode="json", exclude_unset=True)
    for site in document["sites"].values():
        site["port_base"] = free_block(3)
        site["test_port_base"] = free_block(3)
    for app in document["apps"].values():
        app["endpoint"]["port"] = free_block(1)
    return Runbook.model_validate(document)


def seed(layout: Layout, source: str, orders: int) -> Path:
    """The db's order log at `source`, holding `orders` orders before the shop starts."""
    folder = layout.data(source, "db1")
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / LOG_NAME
    log.write_bytes(b"".join(encode_line({"id": n, "item": f"seed-{n}", "qty": 1 + n % 9})
                             for n in range(1, orders + 1)))
    return log


def moved(status: OwnerStatus) -> Transfer:
    """Every machine's bytes so far, summed."""
    total = Transfer()
    for machine in status.machines:
        total = total.plus(machine.total or Transfer())
    return total


class Shop:
    """The protected shop: its runbook's owner, the layout of its folders, its db log at the source."""

    def __init__(self, client: Client, settings: Settings, runbook: Runbook):
        self.client, self.settings, self.runbook = client, settings, runbook
        self.layout = Layout(settings.state_dir, runbook.runbook)
        self.source, self.target = runbook.protection.source, runbook.protection.target
        self.owner = client.get_workflow_handle(temporal.owner_id(runbook.runbook))

    async def status(self) -> OwnerStatus:
        """What `standby status` shows."""
        return await self.owner.query("status", result_type=OwnerStatus)

    async def until(self, done, what: str, timeout: float = 120):
        """Poll the owner's status until `done(status)` is true; `what` names it when the deadline passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = await self.status()
            if done(status):
                return status
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{what} not within {timeout}s")

    def replicated(self, log: Path) -> bool:
        """Whether dr's latest point of db1 holds exactly the source's order log."""
        point = replication.latest_point(self.layout.points(self.target, "db1"))
        copy = point.path / LOG_NAME if point else None
        return copy is not None and copy.exists() and copy.read_bytes() == log.read_bytes()


async def measure(shop: Shop, log: Path, args: argparse.Namespace) -> dict:
    """Protect, wait for continuous protection, write for `args.seconds`, wait for the last write at dr; figures."""
    await temporal.protect(shop.client, shop.settings, ProtectRequest(runbook=shop.runbook, requested_by="bench"))
    machines = len(shop.runbook.machines)
    start = await shop.until(lambda s: len(s.machines) == machines and all(m.phase == "continuous" for m in s.machines),
                             "continuous protection")
    before, size_before = moved(start), log.stat().st_size
    writer = traffic.Writer(f"http://127.0.0.1:{public_ports(shop.runbook)['web']}", every=1 / args.rate)
    began = time.monotonic()
    writer.start()
    await asyncio.sleep(args.seconds)
    writer.stop()
    wrote = time.monotonic() - began
    caught_up = await shop.until(lambda s: shop.replicated(log), "the last write at dr")
    end = await shop.until(lambda s: s.rounds > caught_up.rounds, "the round of the last pass")
    return figures(moved(end), before, log.stat().st_size - size_before, len(writer.acknowledged), wrote)


def figures(after: Transfer, before: Transfer, written: int, orders: int, seconds: float) -> dict:
    """The load's figures: written, changed, a whole-file copy's bytes, sent, and the ratios."""
    changed, naive = after.changed_bytes - before.changed_bytes, after.files_bytes - before.files_bytes
    sent = after.sent_bytes - before.sent_bytes
    return {
        "cpus": os.cpu_count(), "seconds": round(seconds, 1), "orders_written": orders,
        "orders_per_second": round(orders / seconds, 1),
        "passes_with_change": after.passes - before.passes, "bytes_written": written,
        "bytes_changed": changed, "bytes_naive_copy": naive, "bytes_sent": sent,
        "sent_over_naive": round(sent / naive, 4) if naive else None, "target": TARGET,
        "sent_over_written": round(sent / written, 3) if written else None,
    }


async def run(args: argparse.Namespace) -> dict:
    """A dev server, a worker of both sites, the shop under load; its figures."""
    state = Path(tempfile.mkdtemp(prefix="standby-bench-replication-"))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=shutil.which("temporal"), data_converter=DATA_CONVERTER,
        search_attributes=attributes.ALL, dev_server_log_level="error")
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    settings = Settings(state_dir=state, namespace=env.client.namespace, task_queue=queue, ui_url="",
                        temporal_address=env.client.service_client.config.target_host)
    shop = Shop(env.client, settings, shop_on_free_ports())
    log = seed(shop.layout, shop.source, args.orders)
    activities = registry.build(state)
    try:
        async with Worker(env.client, task_queue=queue, workflows=WORKFLOWS, activities=activities):
            sites = asyncio.create_task(SiteWorkers(env.client, queue, activities, [shop.source, shop.target]).run())
            try:
                return await measure(shop, log, args)
            finally:
                await demo.end(env.client, settings, shop.runbook.runbook)
                sites.cancel()
                await asyncio.gather(sites, return_exceptions=True)
    finally:
        await env.shutdown()
        shutil.rmtree(state, ignore_errors=True)


def main() -> None:
    """Run the benchmark and print its figures."""
    args = arguments()
    out = figures_out()
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result, indent=2), file=out)
        return
    width = max(len(key) for key in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}", file=out)


if __name__ == "__main__":
    main()
