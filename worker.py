"""`python worker.py [--site NAME ...]`: a Standby worker until Ctrl-C.

Every worker runs the workflows (the shared task queue). A site's actions (launch, stop, replication,
identity, hooks, checks) run on that site's own queue, `<queue>-site-<name>`: `--site` serves the named
sites only, as a worker at that site does; without it the worker serves every site of every runbook,
finding them on the runbooks' owner workflows, so the embedded default needs one process.
"""

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities import metrics
from activities import registry as activity_registry
from standby import client as temporal
from standby.config import Settings, SettingsError
from standby.contracts import attributes
from standby.contracts.names import site_queue
from workflows.metrics import DURATION
from workflows.registry import RUNNER, WORKFLOWS

# How often a worker that serves every site looks for runbooks with new sites.
DISCOVERY_SECONDS = 1.0
# Operation durations reach hours (a failback waits for a full resync): buckets from seconds to a day.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
# A workflow's next task waits this long for the worker that cached it (the SDK's default is 10 s): when that
# worker died with its site, the runbook's owner must go on at once on another to take the site over.
STICKY_TIMEOUT = timedelta(seconds=2)


@dataclass(frozen=True)
class MetricsConfig:
    """Where the worker serves Prometheus metrics: Standby's on `port`, the Temporal SDK's on `sdk_port`."""

    address: str
    port: int
    sdk_port: int

    @classmethod
    def from_env(cls) -> "MetricsConfig | None":
        """From STANDBY_METRICS_PORT (unset: no metrics), STANDBY_SDK_METRICS_PORT (default: the next port) and
        STANDBY_METRICS_ADDRESS (default 127.0.0.1; 0.0.0.0 for a Prometheus on another host)."""
        if not os.environ.get("STANDBY_METRICS_PORT"):
            return None
        port = _port("STANDBY_METRICS_PORT")
        sdk = _port("STANDBY_SDK_METRICS_PORT") if os.environ.get("STANDBY_SDK_METRICS_PORT") else port + 1
        return cls(os.environ.get("STANDBY_METRICS_ADDRESS", "127.0.0.1"), port, sdk)

    def runtime(self) -> Runtime:
        """A Temporal runtime exporting the SDK's metrics, and the operations' durations, on `sdk_port`."""
        prometheus = PrometheusConfig(bind_address=f"{self.address}:{self.sdk_port}", durations_as_seconds=True,
                                      histogram_bucket_overrides={DURATION: DURATION_BUCKETS})
        return Runtime(telemetry=TelemetryConfig(metrics=prometheus))


def _port(variable: str) -> int:
    text = os.environ[variable]
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SystemExit(f"{variable}={text!r} is not a port number; set it to a free port such as 9464")
    return int(text)


def _activities_at_once() -> int:
    return int(os.environ.get("STANDBY_MAX_ACTIVITIES", "200"))


def _workflow_tasks_at_once() -> int:
    return int(os.environ.get("STANDBY_MAX_WORKFLOW_TASKS", "100"))


def build_worker(client: Client, settings: Settings, activities: list | None = None) -> Worker:
    """The worker of the shared queue: every workflow, and the activities that belong to no site."""
    return Worker(client, task_queue=settings.task_queue, workflows=WORKFLOWS, workflow_runner=RUNNER,
                  activities=activities or activity_registry.build(settings.state_dir),
                  max_concurrent_activities=_activities_at_once(),
                  max_concurrent_workflow_tasks=_workflow_tasks_at_once(),
                  sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT)


class SiteWorkers:
    """Workers of site queues: the named sites, or every site the runbooks' owners name (found as they appear)."""

    def __init__(self, client: Client, task_queue: str, activities: list[Any], sites: Sequence[str] | None = None,
                 max_concurrent_activities: int | None = None, **_: int):
        """`max_concurrent_activities` overrides STANDBY_MAX_ACTIVITIES for these workers (the benchmark's)."""
        self.client, self.task_queue, self.activities = client, task_queue, activities
        self.at_once = max_concurrent_activities or _activities_at_once()
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
                        max_concurrent_activities=self.at_once)
        logging.info("serving site %s on task queue %s", site, site_queue(self.task_queue, site))
        await worker.run()


def serve_metrics(client: Client, settings: Settings, served: MetricsConfig | None) -> list[asyncio.Task[None]]:
    """Standby's metrics endpoint and the watch of the runbooks' owners that feeds it, when metrics are asked for."""
    if served is None:
        return []
    metrics.serve(served.address, served.port)
    logging.info("metrics on http://%s:%d/metrics (Standby) and http://%s:%d/metrics (Temporal SDK)",
                 served.address, served.port, served.address, served.sdk_port)
    return [asyncio.create_task(metrics.OwnerWatch(client, settings.task_queue).run())]


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


# Container allocations between young collections (Python's default: 700), and young (then middle) collections
# before an older one. A worker holds runbooks of thousands of apps in its cached workflows: with the defaults a
# 10,000-machine failover ran a full collection over that heap about 20 times, 4.6 s of pauses that stopped every
# workflow task and activity of the worker. Decoding one stop input of 10,000 apps still set off several middle
# collections at (50,000, 20, 20), each over every young object, and took twice as long as without any (0.2 s, not
# 0.1); with these a 10,000-machine failover takes 0.7 to 1.4 s less, at the same peak RSS (bench/scale.py, back to
# back). At 200,000 the young collections of a 10,000-machine failover still came in its first second, while the
# operation built its plan and the stop activity decoded its input, 55-70 ms each, on the critical path; at
# 1,000,000 there are none during the failover: 0.2-0.4 s less wall time and CPU, the same peak RSS. Python counts
# containers allocated less those freed, so what waits for a collection is at most that many more live objects
# than after the last one; garbage cycles are still collected.
GC_THRESHOLDS = (1_000_000, 50, 50)


def tune_gc() -> None:
    """Fewer, larger collections, and none of them over what was imported at start (gc.freeze)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def main(argv: Sequence[str] | None = None) -> None:
    """Run until SIGINT or SIGTERM, then let running activities finish their current step."""
    options = parse(argv)
    tune_gc()
    logging.basicConfig(level=os.environ.get("STANDBY_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings, served = Settings.from_env(options.state), MetricsConfig.from_env()
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    client = await temporal.connect(settings, runtime=served.runtime() if served else None)
    activities = activity_registry.build(settings.state_dir, client=client, settings=settings)
    worker = build_worker(client, settings, activities)
    sites = SiteWorkers(client, settings.task_queue, activities, options.site or None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.info("worker on %s, task queue %s, sites %s, state %s", settings.temporal_address, settings.task_queue,
                 ", ".join(options.site) or "every site", settings.state_dir)
    async with worker:
        tasks = [asyncio.create_task(sites.run()), *serve_metrics(client, settings, served)]
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
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
