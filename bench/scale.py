"""Benchmark: a failover of N machines in G groups, against raw Temporal on the same machine.

    python bench/scale.py --machines 100 2000 10000 [--launch 1 --stop 0.2 --points 0.05 --replicate 0.5]

For each N, on a fresh dev server tuned as Standby's embedded one (standby.server.TUNING; `--server-defaults`
without): wall time W, the plan's critical path L, W/L, activities and history
events per machine, the largest history, the workers' peak RSS, the CPU time the workers and the dev server used
during the failover (steadier from run to run than W on a shared machine); then the raw Temporal baseline on the same
server: one no-op activity per provider call a machine needs (recovery points, launch, stop), at most
raw.IN_FLIGHT in flight per workflow, in children of raw.BATCH: what Temporal alone takes to run the work
one activity per machine call. `--markdown` prints the table the README shows; `--timeline` where the failover's time
went, activity by activity (bench/timeline.py).
"""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.critical_path import critical_path  # noqa: E402
from bench.histories import history_counts  # noqa: E402
from bench.output import figures_out  # noqa: E402
from bench.provider import Timings  # noqa: E402
from bench.raw import BATCH  # noqa: E402
from bench.runbooks import generate  # noqa: E402
from bench.timeline import timeline  # noqa: E402
from standby import client as temporal  # noqa: E402
from standby import lifecycle, server  # noqa: E402
from standby.config import Settings  # noqa: E402
from standby.contracts import attributes  # noqa: E402
from standby.contracts.operations import OperationResult  # noqa: E402
from standby.contracts.state import OperationRequest  # noqa: E402
from standby.converter import DATA_CONVERTER  # noqa: E402
from standby.plan import build  # noqa: E402

# Provider calls a machine needs in a failover: its recovery points, its launch, its stop.
RAW_CALLS_PER_MACHINE = 3


def arguments() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", type=int, nargs="+", default=[2000])
    parser.add_argument("--groups", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="worker processes on the task queue")
    parser.add_argument("--launch", type=float, default=0.0, help="seconds a launch takes")
    parser.add_argument("--stop", type=float, default=0.0, help="seconds a stop takes")
    parser.add_argument("--points", type=float, default=0.0, help="seconds listing recovery points takes")
    parser.add_argument("--replicate", type=float, default=0.0, help="seconds the drain takes")
    parser.add_argument("--max-activities", type=int, default=1000, help="activity slots per worker")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw Temporal baseline")
    parser.add_argument("--server-defaults", action="store_true",
                        help="the dev server as `temporal server start-dev` runs it, without standby.server.TUNING")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--markdown", action="store_true", help="print one table row per N")
    parser.add_argument("--timeline", action="store_true",
                        help="print where the failover's time went (bench/timeline.py) on stderr")
    return parser.parse_args()


class Workers:
    """Worker processes running Standby with the benchmark provider."""

    def __init__(self, address: str, task_queue: str, count: int, timings: Timings, slots: int):
        self.folder = Path(tempfile.mkdtemp(prefix="standby-bench-"))
        self.processes = []
        for n in range(count):
            argv = [sys.executable, "-m", "bench.worker", "--address", address, "--task-queue", task_queue,
                    "--counts", str(self.folder / f"{n}.json"), "--max-activities", str(slots),
                    "--launch", str(timings.launch), "--stop", str(timings.stop), "--points", str(timings.points),
                    "--replicate", str(timings.replicate)]
            self.processes.append(subprocess.Popen(argv, cwd=ROOT))

    async def ready(self) -> None:
        """Wait until every worker polls."""
        while not all((self.folder / f"{n}.json").exists() for n in range(len(self.processes))):
            await asyncio.sleep(0.1)

    def peak_rss_mib(self) -> list[float]:
        """Each worker's peak resident memory so far."""
        peaks = []
        for process in self.processes:
            status = Path(f"/proc/{process.pid}/status").read_text()
            kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
            peaks.append(round(kib / 1024, 1))
        return peaks

    def cpu_seconds(self) -> float:
        """CPU time the workers have used so far, all of them together."""
        return sum(sum(psutil.Process(p.pid).cpu_times()[:2]) for p in self.processes)

    def stop(self) -> list[dict[str, int]]:
        """Stop the workers; each one's provider calls."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=60)
        calls = [json.loads((self.folder / f"{n}.json").read_text()) for n in range(len(self.processes))]
        shutil.rmtree(self.folder, ignore_errors=True)
        return calls


async def run(args: argparse.Namespace, machines: int) -> dict:
    """Start a dev server and workers, run the failover and the raw baseline, gather the figures."""
    timings = Timings(launch=args.launch, stop=args.stop, points=args.points, replicate=args.replicate)
    runbook = generate(machines, args.groups)
    plan = build(runbook, "failover")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=shutil.which("temporal"), data_converter=DATA_CONVERTER,
        search_attributes=attributes.ALL, dev_server_log_level="error",
        dev_server_extra_args=[] if args.server_defaults else server.TUNING)
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    workers = Workers(env.client.service_client.config.target_host, queue, args.workers, timings,
                      args.max_activities)
    try:
        await workers.ready()
        try:
            figures = await _failover(env.client, queue, runbook, plan, timings, workers, args.timeline)
        except RPCError as error:
            # The raw baseline is measured all the same: the row says why the failover has no figures.
            figures = {"machines": machines, "groups": args.groups, "state": f"not started: {error.message}"}
        figures["worker_peak_rss_mib"] = workers.peak_rss_mib()
        if not args.no_raw:
            figures.update(await _raw(env.client, queue, RAW_CALLS_PER_MACHINE * machines))
            if "wall_seconds" in figures:
                figures["w_over_raw"] = round(figures["wall_seconds"] / figures["raw_seconds"], 3)
    finally:
        calls = workers.stop()
        await env.shutdown()
    figures["launches_per_worker"] = [c.get("launch", 0) for c in calls]
    return figures


def _server_cpu_seconds() -> float:
    """CPU time the dev server this process started has used so far."""
    return sum(sum(p.cpu_times()[:2]) for p in psutil.Process().children(recursive=True) if "temporal" in p.name())


async def _failover(client, queue: str, runbook, plan, timings: Timings, workers: Workers,
                    show_timeline: bool = False) -> dict:
    settings = Settings(state_dir=Path(tempfile.gettempdir()), namespace=client.namespace,
                        temporal_address=client.service_client.config.target_host, task_queue=queue, ui_url="")
    # The owner starts knowing every app protected: bringing thousands of apps up first is not what is measured.
    owner = await temporal.start_owner(client, settings, runbook, lifecycle.protected(runbook))
    # A runbook's owner runs long before its failover: the clock starts once it has taken in its runbook.
    await _settled(client, owner.id)
    cpu = (workers.cpu_seconds(), _server_cpu_seconds(), time.process_time())
    started = time.monotonic()
    request = OperationRequest(operation="failover", runbook=runbook, force=True, yes=True, requested_by="bench")
    handle = client.get_workflow_handle((await temporal.start(client, settings, request)).workflow_id,
                                        result_type=OperationResult)
    result = await handle.result()
    wall = time.monotonic() - started
    used = (workers.cpu_seconds() - cpu[0], _server_cpu_seconds() - cpu[1], time.process_time() - cpu[2])
    await owner.terminate("benchmark over")
    counts = await history_counts(client, handle.id)
    if show_timeline:
        print("\n".join(await timeline(client, handle.id)), file=sys.stderr, flush=True)
    path = critical_path(runbook, plan, timings)
    activities = sum(counts.activities.values())
    events = sum(counts.events.values())
    return {
        "machines": len(runbook.machines), "groups": len(runbook.groups), "state": result.state,
        "wall_seconds": round(wall, 2), "critical_path_seconds": round(path, 2),
        "w_over_l": round(wall / path, 3) if path else None, "activities": activities,
        "activities_per_machine": round(activities / len(runbook.machines), 4),
        "activities_per_app": round(activities / len(runbook.apps), 4), "workflows": len(counts.events),
        "history_events_total": events, "events_per_machine": round(events / len(runbook.machines), 3),
        "history_events_max": max(counts.events.values()),
        "worker_cpu_seconds": round(used[0], 2), "server_cpu_seconds": round(used[1], 2),
        "client_cpu_seconds": round(used[2], 2),
    }


async def _settled(client, workflow_id: str) -> None:
    """Wait until the workflow has completed a workflow task and has none pending."""
    request = DescribeWorkflowExecutionRequest(namespace=client.namespace,
                                               execution=WorkflowExecution(workflow_id=workflow_id))
    while True:
        # The raw call: the SDK's describe() refuses some statuses that this server may report.
        described = await client.workflow_service.describe_workflow_execution(request)
        if described.workflow_execution_info.history_length > 3 and not described.HasField("pending_workflow_task"):
            return
        await asyncio.sleep(0.05)


async def _raw(client, queue: str, activities: int) -> dict:
    started = time.monotonic()
    done = await client.execute_workflow("RawFanOut", args=[activities, BATCH], id=f"bench-raw-{queue}",
                                         task_queue=queue, result_type=int)
    wall = time.monotonic() - started
    return {"raw_activities": done, "raw_seconds": round(wall, 2), "raw_activities_per_second": round(done / wall, 1)}


COLUMNS = {"machines": "N", "state": "state", "wall_seconds": "W s", "critical_path_seconds": "L s", "w_over_l": "W/L",
           "activities_per_machine": "activities/machine", "events_per_machine": "events/machine",
           "history_events_max": "largest history", "worker_peak_rss_mib": "worker RSS MiB",
           "worker_cpu_seconds": "worker CPU s", "server_cpu_seconds": "server CPU s",
           "raw_activities": "raw activities", "raw_seconds": "raw s", "raw_activities_per_second": "raw act/s"}


def markdown(rows: list[dict]) -> list[str]:
    """The figures as a markdown table, one row per N."""
    lines = ["| " + " | ".join(COLUMNS.values()) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(key)) for key in COLUMNS) + " |")
    return lines


def _cell(value: object) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return f"{value:,}" if isinstance(value, int) else str(value if value is not None else "")


def main() -> None:
    """Run the benchmark for each N and print its figures."""
    args = arguments()
    out = figures_out()
    rows = []
    for machines in args.machines:
        rows.append(asyncio.run(run(args, machines)))
        if args.json:
            print(json.dumps(rows[-1]), file=out, flush=True)
        elif not args.markdown:
            width = max(len(key) for key in rows[-1])
            print("\n".join(f"{key:<{width}}  {value}" for key, value in rows[-1].items()), file=out, flush=True)
    if args.markdown:
        print("\n".join(markdown(rows)), file=out)
    out.flush()
    # The client's Rust threads may still call into Python while the interpreter finalizes, which aborts the
    # process after the figures are out (temporalio/sdk-python#300): nothing is left to clean up, so skip that.
    os._exit(0)


if __name__ == "__main__":
    main()
