"""Command steps: real processes directly, and run_hook under its retry policy on the dev server."""

import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, RetryState
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    from activities.hooks import OUTPUT_LIMIT, result_of, run_command, run_hook
    from standby.contracts.commands import CommandInput, CommandResult
    from workflows.policies import HOOK, hook_options

PY = sys.executable


@dataclass
class HookCall:
    """What the test workflow runs: one command step under HOOK(retries)."""

    command: CommandInput
    retries: int = 0
    heartbeat_timeout_seconds: float = 30


@workflow.defn
class HookWorkflow:
    """Test-only: one run_hook under the production HOOK policy, with a short first interval."""

    @workflow.run
    async def run(self, call: HookCall) -> CommandResult:
        return await workflow.execute_activity(
            run_hook,
            call.command,
            retry_policy=HOOK(call.retries, initial_interval=timedelta(milliseconds=100)),
            start_to_close_timeout=timedelta(seconds=call.command.timeout_seconds + 30),
            heartbeat_timeout=timedelta(seconds=call.heartbeat_timeout_seconds),
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
        )


def gone(pid: int) -> bool:
    """Whether pid no longer runs; a zombie waiting for an indifferent init counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


async def wait_gone(pid: int, within: float = 3.0) -> bool:
    """Poll until pid is gone or within seconds pass."""
    deadline = time.monotonic() + within
    while not gone(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def background_sleeper(pidfile: Path, ignore_term: bool = False) -> list[str]:
    """A shell that starts a grandchild sleep, records its pid, and waits on it."""
    trap = "trap '' TERM; " if ignore_term else ""
    return ["sh", "-c", f"{trap}sleep 60 & echo $! > {pidfile}; wait"]


async def read_pid(pidfile: Path, within: float = 10.0) -> int:
    """The pid a background_sleeper wrote, once it has written it."""
    deadline = time.monotonic() + within
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline, f"{pidfile} was never written"
        await asyncio.sleep(0.05)
    return int(pidfile.read_text())


def counter_script(path: Path, succeed_from: int) -> list[str]:
    """A command that counts its runs in path and fails until run number succeed_from."""
    code = (
        "import pathlib, sys\n"
        f"p = pathlib.Path({str(path)!r})\n"
        "n = int(p.read_text()) + 1 if p.exists() else 1\n"
        "p.write_text(str(n))\n"
        "print(f'run {n}')\n"
        f"if n < {succeed_from}:\n"
        "    print(f'not yet: run {n}', file=sys.stderr)\n"
        "    sys.exit(4)\n"
    )
    return [PY, "-c", code]


async def run_workflow(client: Client, task_queue: str, call: HookCall) -> CommandResult:
    """Run HookWorkflow on a worker for this test's task queue."""
    async with Worker(client, task_queue=task_queue, workflows=[HookWorkflow], activities=[run_hook]):
        return await client.execute_workflow(
            HookWorkflow.run, call, id=f"hook-{uuid.uuid4()}", task_queue=task_queue
        )


async def test_env_reaches_process_and_output_is_kept(tmp_path: Path) -> None:
    code = "import os, sys; print(os.environ['STANDBY_X'], os.getcwd()); print('oops', file=sys.stderr); sys.exit(3)"
    result = await run_command(CommandInput(argv=[PY, "-c", code], env={"STANDBY_X": "hello"}, cwd=str(tmp_path)))
    assert result.stdout == f"hello {tmp_path}\n"
    assert result.stderr == "oops\n"
    assert (result.exit_code, result.timed_out, result.ok) == (3, False, False)


async def test_only_harmless_worker_variables_are_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STANDBY_FROM_WORKER", "not inherited")
    monkeypatch.setenv("LANG", "C.UTF-8")
    code = "import os; print(os.environ.get('STANDBY_FROM_WORKER'), os.environ['LANG'], os.environ['EXTRA'])"
    result = await run_command(CommandInput(argv=[PY, "-c", code], env={"EXTRA": "added"}))
    assert result.stdout.split() == ["None", "C.UTF-8", "added"]


async def test_output_keeps_the_last_64_kib() -> None:
    code = "import sys; sys.stdout.write('a' * 200_000 + 'END')"
    result = await run_command(CommandInput(argv=[PY, "-c", code]))
    assert len(result.stdout) == OUTPUT_LIMIT
    assert result.stdout.endswith("aEND")


async def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    result = await run_command(CommandInput(argv=background_sleeper(pidfile), timeout_seconds=0.5))
    assert result.timed_out and not result.ok
    assert result.duration_seconds < 2
    assert await wait_gone(int(pidfile.read_text()))


async def test_a_group_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    result = await run_command(CommandInput(argv=background_sleeper(pidfile, ignore_term=True), timeout_seconds=0.3))
    assert result.timed_out
    assert result.exit_code < 0
    assert await wait_gone(int(pidfile.read_text()))


async def test_missing_executable_raises() -> None:
    with pytest.raises(FileNotFoundError):
        await run_command(CommandInput(argv=["/nonexistent/standby-hook"]))


async def test_hook_retried_once_succeeds(client: Client, task_queue: str, tmp_path: Path) -> None:
    counter = tmp_path / "count"
    command = CommandInput(argv=counter_script(counter, succeed_from=2), label="warm cache")
    result = await run_workflow(client, task_queue, HookCall(command, retries=1))
    assert counter.read_text() == "2"
    assert result.stdout == "run 2\n"


async def test_hook_failure_names_label_command_code_and_stderr(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    counter = tmp_path / "count"
    command = CommandInput(argv=counter_script(counter, succeed_from=99), label="warm cache")
    with pytest.raises(WorkflowFailureError) as caught:
        await run_workflow(client, task_queue, HookCall(command, retries=1))
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    assert activity_error.retry_state == RetryState.MAXIMUM_ATTEMPTS_REACHED
    assert counter.read_text() == "2"
    error = activity_error.cause
    assert isinstance(error, ApplicationError)
    assert error.message == f"hook warm cache: {PY} exited with code 4: not yet: run 2"
    kept = result_of(caught.value)
    assert kept is not None and kept.stdout == "run 2\n" and kept.exit_code == 4


async def test_hook_timeout_kills_child_and_reports(client: Client, task_queue: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    command = CommandInput(argv=background_sleeper(pidfile), timeout_seconds=0.5, label="slow")
    with pytest.raises(WorkflowFailureError) as caught:
        await run_workflow(client, task_queue, HookCall(command))
    assert "hook slow: sh timed out after 0.5s" in str(caught.value.cause.cause)
    kept = result_of(caught.value)
    assert kept is not None and kept.timed_out
    assert await wait_gone(int(pidfile.read_text()))


async def test_missing_executable_is_not_retried(client: Client, task_queue: str) -> None:
    command = CommandInput(argv=["/nonexistent/standby-hook"], label="fix disks")
    with pytest.raises(WorkflowFailureError) as caught:
        await run_workflow(client, task_queue, HookCall(command, retries=3))
    activity_error = caught.value.cause
    assert isinstance(activity_error, ActivityError)
    assert activity_error.retry_state == RetryState.NON_RETRYABLE_FAILURE
    assert "hook fix disks: cannot start /nonexistent/standby-hook" in str(activity_error.cause)


async def test_long_hook_heartbeats_visibly(client: Client, task_queue: str) -> None:
    # Without heartbeats a 1 s heartbeat timeout would fail this 2.5 s hook.
    command = CommandInput(argv=["sleep", "2.5"], label="long")
    async with Worker(client, task_queue=task_queue, workflows=[HookWorkflow], activities=[run_hook]):
        handle = await client.start_workflow(
            HookWorkflow.run, HookCall(command, heartbeat_timeout_seconds=1), id=f"hook-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        details = await pending_heartbeat(handle)
        result = await handle.result()
    assert details.startswith("long: running for")
    assert result.ok


async def pending_heartbeat(handle: WorkflowHandle[HookWorkflow, CommandResult]) -> str:
    """The first heartbeat detail the server shows for the workflow's pending activity."""
    for _ in range(50):
        description = await handle.describe()
        for pending in description.raw_description.pending_activities:
            if pending.heartbeat_details.payloads:
                return pending.heartbeat_details.payloads[0].data.decode().strip('"')
        await asyncio.sleep(0.1)
    return ""


async def test_cancelled_hook_kills_its_process_group(client: Client, task_queue: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    command = CommandInput(argv=background_sleeper(pidfile), timeout_seconds=60, label="stuck")
    async with Worker(client, task_queue=task_queue, workflows=[HookWorkflow], activities=[run_hook]):
        handle = await client.start_workflow(
            HookWorkflow.run, HookCall(command, heartbeat_timeout_seconds=1), id=f"hook-{uuid.uuid4()}",
            task_queue=task_queue,
        )
        pid = await read_pid(pidfile)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
    assert isinstance(caught.value.cause, CancelledError)
    assert await wait_gone(pid)


def test_hook_policy_tries_retries_plus_one() -> None:
    assert HOOK(2) == RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=3,
    )


def test_hook_options_leave_room_to_kill_and_report() -> None:
    options = hook_options(timedelta(minutes=5), retries=2)
    assert options["start_to_close_timeout"] == timedelta(minutes=5, seconds=30)
    assert options["retry_policy"].maximum_attempts == 3
    assert options["heartbeat_timeout"] == timedelta(seconds=30)
