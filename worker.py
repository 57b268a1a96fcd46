"""`python worker.py [--site NAME ...]`: a Standby worker until Ctrl-C.

Every worker runs the workflows (the shared task queue). A site's actions (launch, stop, replication,
identity, hooks, checks) run on that site's own queue, `<queue>-site-<name>`: `--site` serves the named
sites only, as a worker at that site does; without it the worker serves every site of every runbook,
finding them on the runbooks' owner workflows, so the embedded default needs one process.
"""

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities import registry as activity_registry
from standby.config import Settings
from standby.contracts import attributes
from standby.contracts.names import site_queue
from standby.converter import DATA_CONVERTER
from workflows.registry import WORKFLOWS

# How often a worker that serves every site looks for runbooks with new sites.
DISCOVERY_SECONDS = 1.0
# A workflow's next task waits this long for the worker that cached it (the SDK's default is 10 s): when that
# worker died with its site, the runbook's owner must go on at once on another to take the site over.
STICKY_TIMEOUT = timedelta(seconds=2)


def _options() -> dict[str, int]:
    return {"max_concurrent_activities": int(os.environ.get("STANDBY_MAX_ACTIVITIES", "200")),
            "max_concurrent_workflow_tasks": int(os.environ.get("STANDBY_MAX_WORKFLOW_TASKS", "100"))}


def build_worker(client: Client, settings: Settings, activities: list | None = None) -> Worker:
    """The worker of the shared queue: every workflow, and the activities that belong to no site."""
    return Worker(client, task_queue=settings.task_queue, workflows=WORKFLOWS,
                  activities=activities or activity_registry.build(settings.state_dir),
                  sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT, **_options())


class SiteWorkers:
    """Workers of site queues: the named sites, or every site the runbooks' owners name (found as they appear)."""

    def __init__(self, client: Client, task_queue: str, activities: list, sites: Sequence[str] | None = None):
        self.client, self.task_queue, self.activities = client, task_queue, activities
        self.named = list(sites) if sites else None
        self.running: dict[str, asyncio.Task[None]] = {}

    async def run(self) -> None:
        """Serve until cancelled; without named sites, look for new ones every DISCOVERY_SECONDS."""
        try:
            while True:
                for site in self.named if self.named is not None else await self._discover():
                    if site not in self.running:
                        self.running[site] = asyncio.create_task(self._serve(site))
                if self.named is not None:
                    await asyncio.gather(*self.running.values())
                await asyncio.sleep(DISCOVERY_SECONDS)
        finally:
            for task in self.running.values():
                task.cancel()
            await asyncio.gather(*self.running.values(), return_exceptions=True)

    async def _discover(self) -> set[str]:
        query = f"WorkflowType = 'Runbook' AND ExecutionStatus = 'Running' AND TaskQueue = '{self.task_queue}'"
        found: set[str] = set()
        async for execution in self.client.list_workflows(query):
            found.update(execution.typed_search_attributes.get(attributes.SITES) or [])
        return found

    async def _serve(self, site: str) -> None:
        worker = Worker(self.client, task_queue=site_queue(self.task_queue, site), activities=self.activities,
                        **_options())
        logging.info("serving site %s on task queue %s", site, site_queue(self.task_queue, site))
        await worker.run()


async def connect(settings: Settings) -> Client:
    """A client of the settings' Temporal server, with the pydantic converter every input needs."""
    return await Client.connect(settings.temporal_address, namespace=settings.namespace,
                                data_converter=DATA_CONVERTER)


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The worker's options."""
    parser = argparse.ArgumentParser(prog="worker.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", action="append", default=[], metavar="NAME",
                        help="serve this site's actions (repeat for several); default: every site of every runbook")
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> None:
    """Run until SIGINT or SIGTERM, then let running activities finish their current step."""
    options = parse(argv)
    logging.basicConfig(level=os.environ.get("STANDBY_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    client = await connect(settings)
    activities = activity_registry.build(settings.state_dir)
    worker = build_worker(client, settings, activities)
    sites = SiteWorkers(client, settings.task_queue, activities, options.site or None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.info("worker on %s, task queue %s, sites %s, state %s", settings.temporal_address, settings.task_queue,
                 ", ".join(options.site) or "every site", settings.state_dir)
    async with worker:
        serving = asyncio.create_task(sites.run())
        await stop.wait()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
    logging.info("worker stopped")


if __name__ == "__main__":
    asyncio.run(main())
