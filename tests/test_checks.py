"""Health probes, connectivity checks and downloads against real sockets, and their policies on the dev server."""

import asyncio
import dataclasses
import hashlib
import http.server
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import TimeoutError as ActivityTimeoutError
from temporalio.testing import ActivityEnvironment
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.checks import BadCheckError, check_connectivity, check_health, download, probe
    from standby.contracts.checks import (
        ConnectivityInput,
        ConnectivityResult,
        DownloadInput,
        DownloadResult,
        HealthInput,
        ProbeResult,
    )
    from workflows import policies

FAST = timedelta(milliseconds=100)
PAYLOAD = b"replication agent installer\n" * 1000
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@workflow.defn
class ConnectivityWorkflow:
    """Test-only: check_connectivity under connectivity_options with short intervals."""

    @workflow.run
    async def run(self, inp: ConnectivityInput, deadline_seconds: float) -> ConnectivityResult:
        options = policies.connectivity_options(
            timedelta(seconds=deadline_seconds), initial_interval=FAST, maximum_interval=timedelta(milliseconds=400)
        )
        return await workflow.execute_activity(check_connectivity, inp, **options)


@workflow.defn
class DownloadWorkflow:
    """Test-only: download under the production DOWNLOAD policy, its intervals shortened."""

    @workflow.run
    async def run(self, inp: DownloadInput) -> DownloadResult:
        policy = dataclasses.replace(policies.DOWNLOAD, initial_interval=FAST)
        return await workflow.execute_activity(
            download, inp, retry_policy=policy, start_to_close_timeout=timedelta(seconds=10)
        )


@workflow.defn
class HealthWorkflow:
    """Test-only: check_health under health_options with short intervals."""

    @workflow.run
    async def run(self, inp: HealthInput, deadline_seconds: float) -> ProbeResult:
        policy = dataclasses.replace(policies.HEALTH, initial_interval=FAST, maximum_interval=FAST)
        options = policies.health_options(timedelta(seconds=deadline_seconds), policy)
        return await workflow.execute_activity(check_health, inp, **options)


class Site:
    """A real HTTP server on a free port whose status for request n comes from status_for(n)."""

    def __init__(self, status_for: Callable[[int], int]) -> None:
        self.hits = 0
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hits += 1
                status = status_for(site.hits)
                body = PAYLOAD if status == 200 else b"unavailable"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/agent.tar.gz"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[int], int]], Site]]:
    """Start Sites for a test and stop them after it."""
    sites: list[Site] = []

    def start(status_for: Callable[[int], int]) -> Site:
        sites.append(Site(status_for))
        return sites[-1]

    yield start
    for site in sites:
        site.close()


def last_attempt_error(err: WorkflowFailureError) -> ApplicationError:
    """The last attempt's error when a deadline ended the retries, whichever shape the server chose.

    The server reports either ActivityError -> ApplicationError or ActivityError ->
    TimeoutError(SCHEDULE_TO_CLOSE, "Not enough time to schedule next retry") -> ApplicationError.
    """
    cause = err.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        assert isinstance(cause, (ActivityError, ActivityTimeoutError)), cause
        cause = cause.cause
    assert cause is not None, "no ApplicationError in the chain"
    return cause


def free_port() -> int:
    """A port nothing listens on: bound once to port 0, then released."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run(client: Client, task_queue: str, workflow_run: Any, *args: Any) -> Any:
    """Run a test workflow on a worker with every check activity."""
    activities = [check_connectivity, check_health, download]
    workflows = [ConnectivityWorkflow, DownloadWorkflow, HealthWorkflow]
    async with Worker(client, task_queue=task_queue, workflows=workflows, activities=activities):
        return await client.execute_workflow(
            workflow_run, args=list(args), id=f"check-{uuid.uuid4()}", task_queue=task_queue
        )


async def test_tcp_probe_passes_on_a_listening_port_and_fails_on_a_closed_one() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        assert (await probe(HealthInput(kind="tcp", port=port))).ok
    failed = await probe(HealthInput(kind="tcp", port=free_port()))
    assert not failed.ok and "refused" in failed.detail.lower()


async def test_http_probe_compares_the_status(serve: Callable[[Callable[[int], int]], Site]) -> None:
    site = serve(lambda n: 200 if n == 1 else 503)
    healthy = await probe(HealthInput(kind="http", port=site.port, path="/health"))
    assert healthy.ok and healthy.detail.endswith("returned 200")
    sick = await probe(HealthInput(kind="http", port=site.port, path="/health"))
    assert not sick.ok and "returned 503, expected 200" in sick.detail


async def test_command_probe_uses_the_exit_code() -> None:
    assert (await probe(HealthInput(kind="command", argv=[sys.executable, "-c", "print('fine')"]))).ok
    code = "import sys; print('replica lag 40s', file=sys.stderr); sys.exit(2)"
    failed = await probe(HealthInput(kind="command", argv=[sys.executable, "-c", code]))
    assert not failed.ok and failed.detail.endswith("exited with code 2: replica lag 40s")


async def test_a_tcp_probe_without_a_port_is_a_bad_check() -> None:
    with pytest.raises(BadCheckError, match="needs a port"):
        await probe(HealthInput(kind="tcp"))


async def test_a_missing_probe_command_is_a_bad_check_not_ill_health() -> None:
    with pytest.raises(BadCheckError, match="cannot start /nonexistent/probe: No such file or directory"):
        await probe(HealthInput(kind="command", argv=["/nonexistent/probe"]))
    with pytest.raises(ApplicationError, match="health check db cannot run") as caught:
        bad = HealthInput(kind="command", argv=["/nonexistent/probe"], label="db")
        await ActivityEnvironment().run(check_health, bad)
    assert caught.value.non_retryable


async def test_health_is_retried_until_healthy(
    client: Client, task_queue: str, serve: Callable[[Callable[[int], int]], Site]
) -> None:
    site = serve(lambda n: 503 if n < 3 else 200)
    result = await run(client, task_queue, HealthWorkflow.run, HealthInput(kind="http", port=site.port), 10)
    assert result.ok and site.hits == 3


async def test_health_gives_up_naming_the_check(
    client: Client, task_queue: str, serve: Callable[[Callable[[int], int]], Site]
) -> None:
    site = serve(lambda n: 503)
    inp = HealthInput(kind="http", port=site.port, path="/health", label="api")
    with pytest.raises(WorkflowFailureError) as caught:
        await run(client, task_queue, HealthWorkflow.run, inp, 2)
    assert site.hits >= 2
    expected = f"health check failed: api: GET http://127.0.0.1:{site.port}/health returned 503, expected 200"
    assert str(last_attempt_error(caught.value)) == f"Unhealthy: {expected}"


async def test_connectivity_waits_for_a_port_that_opens_later(client: Client, task_queue: str) -> None:
    port = free_port()

    async def listen_later() -> asyncio.Server:
        await asyncio.sleep(2)
        return await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)

    opener = asyncio.create_task(listen_later())
    started = time.monotonic()
    inp = ConnectivityInput(host="127.0.0.1", port=port, purpose="replication agent")
    result = await run(client, task_queue, ConnectivityWorkflow.run, inp, 15)
    server = await opener
    server.close()
    assert time.monotonic() - started >= 2
    assert (result.host, result.port) == ("127.0.0.1", port)


async def test_connectivity_gives_up_naming_host_and_port(client: Client, task_queue: str) -> None:
    port = free_port()
    inp = ConnectivityInput(host="127.0.0.1", port=port, purpose="service manager")
    with pytest.raises(WorkflowFailureError) as caught:
        await run(client, task_queue, ConnectivityWorkflow.run, inp, 2)
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    assert activity_error.retry_state == RetryState.TIMEOUT
    expected = f"Unreachable: cannot reach service manager at 127.0.0.1:{port}: Connection refused"
    assert str(last_attempt_error(caught.value)) == expected


async def test_download_retries_until_the_mirror_answers(
    client: Client, task_queue: str, tmp_path: Path, serve: Callable[[Callable[[int], int]], Site]
) -> None:
    site = serve(lambda n: 503 if n <= 2 else 200)
    dest = tmp_path / "agent" / "agent.tar.gz"
    inp = DownloadInput(url=site.url, dest=str(dest), package="replication agent", sha256=PAYLOAD_SHA)
    result = await run(client, task_queue, DownloadWorkflow.run, inp)
    assert site.hits == 3
    assert dest.read_bytes() == PAYLOAD
    assert list(dest.parent.iterdir()) == [dest]
    assert (result.path, result.size, result.sha256) == (str(dest), len(PAYLOAD), PAYLOAD_SHA)


async def test_download_gives_up_after_four_attempts(
    client: Client, task_queue: str, tmp_path: Path, serve: Callable[[Callable[[int], int]], Site]
) -> None:
    site = serve(lambda n: 503)
    inp = DownloadInput(url=site.url, dest=str(tmp_path / "agent.tar.gz"), package="replication agent")
    with pytest.raises(WorkflowFailureError) as caught:
        await run(client, task_queue, DownloadWorkflow.run, inp)
    assert site.hits == 4
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    assert activity_error.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
    assert str(activity_error.cause) == (
        f"DownloadFailed: download of replication agent from {site.url} failed: HTTP 503 Service Unavailable"
    )
    assert list(tmp_path.iterdir()) == []


async def test_download_is_idempotent(tmp_path: Path, serve: Callable[[Callable[[int], int]], Site]) -> None:
    site = serve(lambda n: 200)
    inp = DownloadInput(url=site.url, dest=str(tmp_path / "agent.tar.gz"), package="agent", sha256=PAYLOAD_SHA)
    first = await ActivityEnvironment().run(download, inp)
    second = await ActivityEnvironment().run(download, inp)
    assert first == second and site.hits == 1


async def test_download_replaces_a_stale_file(tmp_path: Path, serve: Callable[[Callable[[int], int]], Site]) -> None:
    site = serve(lambda n: 200)
    dest = tmp_path / "agent.tar.gz"
    dest.write_bytes(b"an older agent")
    inp = DownloadInput(url=site.url, dest=str(dest), package="agent", sha256=PAYLOAD_SHA)
    await ActivityEnvironment().run(download, inp)
    assert dest.read_bytes() == PAYLOAD and site.hits == 1


async def test_download_checksum_mismatch_is_retryable(
    tmp_path: Path, serve: Callable[[Callable[[int], int]], Site]
) -> None:
    site = serve(lambda n: 200)
    inp = DownloadInput(url=site.url, dest=str(tmp_path / "agent.tar.gz"), package="agent", sha256="ab" * 32)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(download, inp)
    assert not caught.value.non_retryable
    assert f"download of agent from {site.url} failed: sha256 mismatch: expected {'ab' * 32}" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


async def test_download_not_found_is_permanent(tmp_path: Path, serve: Callable[[Callable[[int], int]], Site]) -> None:
    site = serve(lambda n: 404)
    inp = DownloadInput(url=site.url, dest=str(tmp_path / "agent.tar.gz"), package="agent")
    with pytest.raises(ApplicationError, match="HTTP 404 Not Found") as caught:
        await ActivityEnvironment().run(download, inp)
    assert caught.value.non_retryable


def test_connectivity_options_are_bounded_by_the_deadline() -> None:
    options = policies.connectivity_options(timedelta(minutes=5))
    assert options["schedule_to_close_timeout"] == timedelta(minutes=5)
    assert options["retry_policy"].maximum_attempts == 0
    assert options["retry_policy"].backoff_coefficient == 2
