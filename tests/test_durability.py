"""A failover survives kill -9 of its worker at three points and launches every machine exactly once.

The operation's worker is `python worker.py`, a separate OS process, killed with SIGKILL and replaced
by a new one three times during one failover:

1. after the source was stopped (and drained): the failover waits at a `before_group:data` prompt;
2. after the first group's launch: the data group is recovered, the services group waits at a
   `before_group:services` prompt;
3. during the second group, with an activity in flight: web's start argv waits while a gate file
   exists, so the batch launch (`launch_targets`) of web1 has spawned the process and is waiting for its port.

Synchronization is by polling, never by sleeping: the prompts (`progress` query of the operation, which
recovers both small groups inline) and web1's line in dr's launches.log (written once the process exists, before
the launch waits for its port). Each prompt is answered only after the kill, so that the new worker
must rebuild the workflow from its history. Temporal hands the work to the new worker after the sticky
queue's schedule-to-start timeout (10 s) for workflow tasks, and after the heartbeat timeout (10 s for
provider calls) for the killed launch: about 50 s in all.

The worker process is the only one: it runs the runbook's owner (which protects the shop and starts
the failover as its child) and the failover, and serves every site's queue, found on the owner as
`python worker.py` finds them. Each kill takes the owner's replication round with it; the new worker
resumes both.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType, TimeoutType

from tests.helpers import eventually_async
from tests.ops_helpers import (
    answer_prompt,
    finished,
    launches,
    place_order,
    public_port,
    request,
    runbook_variant,
    serves_all,
    start_protect,
    stop_workflows,
    waiting_prompt,
)

ROOT = Path(__file__).resolve().parent.parent

# Waits while the gate file (argv[1]) exists, then becomes the shop's web service with the rest of argv.
GATED = "import os, sys, time\nwhile os.path.exists(sys.argv[1]): time.sleep(0.05)\n" \
        "os.execv(sys.executable, [sys.executable, '-m', 'sampleapp.web', *sys.argv[2:]])"


class WorkerProcess:
    """`python worker.py` on the test's task queue and state folder, killed with SIGKILL on demand."""

    def __init__(self, client, task_queue: str, state_dir: Path, logs: Path):
        self.env = {**os.environ, "TEMPORAL_ADDRESS": client.service_client.config.target_host,
                    "TEMPORAL_NAMESPACE": client.namespace, "STANDBY_STATE": str(state_dir),
                    "STANDBY_TASK_QUEUE": task_queue}
        self.logs, self.started = logs, 0
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """A new worker process."""
        self.started += 1
        with open(self.logs / f"worker-{self.started}.log", "wb") as log:
            self.process = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """kill -9: no graceful shutdown, no chance to report anything to Temporal."""
        assert self.process is not None and self.process.poll() is None, "the worker died on its own"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM at the end of the test."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def gated_web(gate: Path):
    """An edit of the runbook: web starts only once the gate file is gone."""

    def edit(document: dict) -> None:
        document["apps"]["web"]["start"] = [
            "{{ python }}", "-c", GATED, str(gate), "--port", "{{ port }}", "--data", "{{ data }}",
            "--api", "http://127.0.0.1:{{ endpoints.api }}",
        ]

    return edit


@pytest.fixture
def worker_process(client, task_queue, state_dir, tmp_path):
    """The operation's worker as a separate OS process (not started yet)."""
    workers = WorkerProcess(client, task_queue, state_dir, tmp_path)
    yield workers
    workers.stop()


async def test_failover_survives_worker_kills_and_launches_each_machine_once(
        client, task_queue, state_dir, shop_file, tmp_path, worker_process):
    gate = tmp_path / "web-gate"
    prompts = [{"at": "before_group:data", "prompt": "source stopped", "operations": ["failover"]},
               {"at": "before_group:services", "prompt": "data recovered", "operations": ["failover"]}]
    runbook = runbook_variant(shop_file, hooks=prompts, edit=gated_web(gate))
    name, web = runbook.runbook, public_port(runbook, "web")
    primary = state_dir / "runbooks" / name / "sites" / "primary" / "machines"

    def launched() -> dict[str, int]:
        return launches(state_dir, name, "dr", f"standby/{name}/failover/")

    worker_process.start()
    protect = await start_protect(client, runbook, task_queue)
    failover = None
    try:
        orders = [(await place_order(web, f"order-{n}"))["item"] for n in range(3)]
        gate.touch()
        failover = await request(client, runbook, task_queue, "failover", yes=True, force=True)
        await answer_prompt(client, failover, "Storage team")

        # 1. The source is stopped and drained; the data group waits at its prompt.
        held = await waiting_prompt(client, failover, "source stopped")
        assert sorted(primary.glob("*/machine.pid")) == [] and launched() == {}
        worker_process.kill()
        worker_process.start()
        await held.execute_update("continue", "tester", result_type=str)

        # 2. db is recovered at dr; the services group waits at its prompt.
        held = await waiting_prompt(client, failover, "data recovered", timeout=40)
        assert launched() == {"db1": 1}
        worker_process.kill()
        worker_process.start()
        await held.execute_update("continue", "tester", result_type=str)

        # 3. launch_targets of web's batch started (and logged) web1, which waits at the gate, so the launch waits
        #    for its port: kill during that launch, then open the gate.
        await eventually_async(lambda: launched().get("web1"), 40, what="web1 launched at dr")
        worker_process.kill()
        gate.unlink()
        worker_process.start()

        result = await finished(failover, 90)
        assert (result.state, result.to_site) == ("failed_over", "dr")
        assert launched() == {"db1": 1, "app1": 1, "web1": 1}
        assert await launch_attempts(client, failover.id) == {"db": [1], "api": [1], "web": [2]}
        await serves_all(web, orders)
    finally:
        await stop_workflows(protect, failover)


async def launch_attempts(client, workflow_id: str) -> dict[str, list[int]]:
    """The attempts of each completed batch launch in a workflow's history, by its apps; a retried one after a
    heartbeat timeout."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled, started, attempts = {}, {}, {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_type.name == "launch_targets":
                batch = json.loads(attributes.input.payloads[0].data)
                scheduled[event.event_id] = ",".join(app["name"] for app in batch["apps"])
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.activity_task_started_event_attributes.scheduled_event_id] = event
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            key = event.activity_task_completed_event_attributes.scheduled_event_id
            if key in scheduled:
                start = started[key].activity_task_started_event_attributes
                if start.attempt > 1:
                    assert start.last_failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT
                attempts.setdefault(scheduled[key], []).append(start.attempt)
    return attempts
