"""`python worker.py`: one worker running every Standby workflow and activity until Ctrl-C."""

import asyncio
import logging
import os
import signal
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from activities import registry as activity_registry
from standby.client import Refused, connect
from standby.config import Settings
from workflows.registry import WORKFLOWS


def build_worker(client: Client, settings: Settings) -> Worker:
    """A worker on the settings' task queue; concurrency from STANDBY_MAX_ACTIVITIES / STANDBY_MAX_WORKFLOW_TASKS."""
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=activity_registry.build(settings.state_dir),
        max_concurrent_activities=int(os.environ.get("STANDBY_MAX_ACTIVITIES", "200")),
        max_concurrent_workflow_tasks=int(os.environ.get("STANDBY_MAX_WORKFLOW_TASKS", "100")),
    )


async def main() -> None:
    """Run until SIGINT or SIGTERM, then let running activities finish their current step."""
    logging.basicConfig(level=os.environ.get("STANDBY_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        client = await connect(settings)
    except Refused as error:
        logging.error("%s", error)
        sys.exit(1)
    worker = build_worker(client, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.info("worker on %s, task queue %s, state %s", settings.temporal_address, settings.task_queue,
                 settings.state_dir)
    async with worker:
        await stop.wait()
    logging.info("worker stopped")


if __name__ == "__main__":
    asyncio.run(main())
