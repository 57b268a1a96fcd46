"""`python worker.py`: one worker running every Standby workflow and activity until Ctrl-C."""

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from temporalio.client import Client
from temporalio.worker import Worker

from activities import registry as activity_registry
from standby import client as temporal
from standby.config import Settings, SettingsError
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


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The worker's options; --help prints them without connecting."""
    parser = argparse.ArgumentParser(
        prog="worker.py", description=__doc__.split("\n\n")[0],
        epilog="Temporal: TEMPORAL_ADDRESS (default localhost:7233), TEMPORAL_NAMESPACE, STANDBY_TASK_QUEUE; "
               "STANDBY_CLIENT_PATIENCE: seconds to keep trying while the server does not answer (default 60).")
    parser.add_argument("--site", action="append", default=[], metavar="NAME",
                        help="serve this site's actions (repeat for several); default: every site of every runbook")
    parser.add_argument("--state", metavar="FOLDER", help="state folder (default $STANDBY_STATE or .standby)")
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> None:
    """Run until SIGINT or SIGTERM, then let running activities finish their current step."""
    options = parse(argv)
    logging.basicConfig(level=os.environ.get("STANDBY_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(options.state)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    client = await temporal.connect(settings)
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


def run() -> int:
    """The worker's exit code: 0 once stopped; without a traceback, 1 if it cannot reach Temporal, 2 on bad settings."""
    try:
        asyncio.run(main())
    except temporal.Refused as error:
        print(f"worker.py: {error}", file=sys.stderr)
        return 1
    except SettingsError as error:
        print(f"worker.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    temporal.exit_process(run())
