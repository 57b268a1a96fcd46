"""A site worker that dies while it holds the runbook owner's workflow task: the other worker runs the owner's next
task after the owner's short task timeout, not Temporal's default 10 s (the worst case of detection and RTO).

Two real `python worker.py` processes on the dev server. The first one runs the owner, so the owner's tasks go to
its sticky queue; it is frozen (SIGSTOP) so that the next task is handed to its open poll and held there, then
killed, as a site's worker dies with its site mid-task.
"""

import asyncio
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from standby import client as temporal
from standby.config import Settings
from standby.contracts.state import owner_task_timeout
from standby.lifecycle import initial
from standby.loader import load

ROOT = Path(__file__).resolve().parent.parent
# Generous against the owner's 3 s timeout on shared cores, and still short of the default 10 s it replaces.
WITHIN = timedelta(seconds=8.5)


def _worker(settings: Settings, logs: Path, name: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TEMPORAL_ADDRESS": settings.temporal_address, "TEMPORAL_NAMESPACE": settings.namespace,
           "STANDBY_TASK_QUEUE": settings.task_queue, "STANDBY_STATE": str(settings.state_dir),
           "STANDBY_LOG_LEVEL": "WARNING"}
    log = open(logs / f"worker-{name}.log", "ab")  # noqa: SIM115  kept open by the child
    # A site of no runbook: the worker serves the workflows' queue, as every site's worker does.
    return subprocess.Popen([sys.executable, "worker.py", "--site", f"nowhere-{name}"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)


async def _events(client: Client, workflow_id: str) -> list:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return list(history.events)


async def _until(check, what: str, timeout: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"not {what} within {timeout}s"
        await asyncio.sleep(0.1)


async def _polling(client: Client, queue: str, pid: int) -> bool:
    request = DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=queue),
                                       task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)
    answer = await client.workflow_service.describe_task_queue(request)
    return any(p.identity.startswith(f"{pid}@") for p in answer.pollers)


def _completed_by(events: list) -> list[str]:
    """The identity of the worker that completed each workflow task, in order."""
    started = {e.event_id: e.workflow_task_started_event_attributes.identity for e in events
               if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED}
    return [started[e.workflow_task_completed_event_attributes.started_event_id] for e in events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED]


async def test_the_owners_next_task_runs_on_the_other_worker_soon_after_the_holder_dies(
        client: Client, task_queue: str, shop_file: Path, state_dir: Path, tmp_path: Path) -> None:
    settings = Settings(state_dir=state_dir, temporal_address=client.service_client.config.target_host,
                        namespace=client.namespace, task_queue=task_queue, ui_url="http://localhost:8233")
    runbook = load(shop_file)
    holder = _worker(settings, tmp_path, "holder")
    other = None
    try:
        handle = await temporal.start_owner(client, settings, runbook, initial(runbook))
        description = await handle.describe()
        assert description.raw_description.execution_config.default_workflow_task_timeout.ToTimedelta() \
            == owner_task_timeout(len(runbook.machines))
        await _until(lambda: _owner_ran(client, handle.id), "run by the first worker")
        other = _worker(settings, tmp_path, "other")
        await _until(lambda: _polling(client, task_queue, other.pid), "polled by the second worker")

        holder.send_signal(signal.SIGSTOP)  # its open poll of its sticky queue takes the next task, and holds it
        before = len(_completed_by(await _events(client, handle.id)))
        sent = asyncio.get_running_loop().time()
        await handle.signal("nudge")  # no handler: the owner keeps it, and it is a workflow task all the same
        await _until(lambda: _held(client, handle.id, holder.pid), "held by the frozen worker", timeout=10)
        holder.kill()
        holder.wait()

        async def taken_over() -> bool:
            return len(_completed_by(await _events(client, handle.id))) > before

        await _until(taken_over, "run by the second worker", timeout=30)
        took = asyncio.get_running_loop().time() - sent
        events = await _events(client, handle.id)
        assert _completed_by(events)[before].startswith(f"{other.pid}@"), _completed_by(events)
        assert any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT for e in events), \
            "the dead worker held the task: it had to time out"
        assert took < WITHIN.total_seconds(), f"the owner's next task ran {took:.1f}s after the signal"
    finally:
        for worker in (holder, other):
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait()
        await client.get_workflow_handle(temporal.owner_id(runbook.runbook)).terminate("done")


async def _owner_ran(client: Client, workflow_id: str) -> bool:
    return len(_completed_by(await _events(client, workflow_id))) > 0


async def _held(client: Client, workflow_id: str, pid: int) -> bool:
    events = await _events(client, workflow_id)
    last = events[-1]
    return (last.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
            and last.workflow_task_started_event_attributes.identity.startswith(f"{pid}@"))
