"""A Standby worker whose sites all use the benchmark provider; it writes its call counts when stopped.

    python -m bench.worker --address HOST:PORT --task-queue Q --launch 1.0 --counts FILE
"""

import argparse
import asyncio
import json
import os
import signal
import tempfile
from dataclasses import replace
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import Worker

from activities import registry
from activities.sites.local import PROVIDER as LOCAL
from activities.sites.registry import Providers
from bench.provider import BenchSiteProvider, Counter, Record, Timings
from bench.raw import RAW_ACTIVITIES, RAW_WORKFLOWS
from standby.client import exit_process
from standby.converter import DATA_CONVERTER
from worker import SiteWorkers, tune_gc
from workflows.registry import RUNNER, WORKFLOWS


def arguments() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--counts", required=True, type=Path)
    parser.add_argument("--max-activities", type=int, default=1000)
    parser.add_argument("--max-workflow-tasks", type=int, default=100)
    for name in ("launch", "stop", "points", "identity", "replicate"):
        parser.add_argument(f"--{name}", type=float, default=0.0, help=f"seconds a {name} call takes")
    parser.add_argument("--spread", type=float, default=0.0, help="seconds more a launch takes per machine index")
    parser.add_argument("--record", type=Path, help="a file the provider records each target in, shared by workers")
    return parser.parse_args()


async def main() -> None:
    """Run until SIGTERM, then write the counts."""
    args = arguments()
    # As `python worker.py` runs.
    tune_gc()
    timings = Timings(args.launch, args.stop, args.points, args.identity, args.replicate, args.spread)
    counter = Counter()
    state = Path(tempfile.mkdtemp(prefix="standby-bench-"))
    record = Record(args.record) if args.record else None
    bench = replace(LOCAL, factory=lambda site, _: BenchSiteProvider(site, timings, counter, record, os.getpid()))
    providers = Providers(state, [bench])
    client = await Client.connect(args.address, data_converter=DATA_CONVERTER)
    activities = registry.build(state, providers)
    limits = {"max_concurrent_activities": args.max_activities,
              "max_concurrent_workflow_tasks": args.max_workflow_tasks}
    worker = Worker(client, task_queue=args.task_queue, workflows=[*WORKFLOWS, *RAW_WORKFLOWS],
                    workflow_runner=RUNNER, activities=[*activities, *RAW_ACTIVITIES], **limits)
    # Every site of the generated runbooks, on its own queue, as `python worker.py` serves them.
    sites = SiteWorkers(client, args.task_queue, activities, ["primary", "dr"], **limits)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with worker:
        serving = asyncio.create_task(sites.run())
        args.counts.write_text(json.dumps({"ready": True}))
        await stop.wait()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
    args.counts.write_text(json.dumps(counter.calls))


if __name__ == "__main__":
    # Counts written, the process ends without the interpreter's teardown, which the SDK's client threads can abort
    # (temporalio/sdk-python#300), as `python worker.py` ends.
    asyncio.run(main())
    exit_process(0)
