"""SRM-style command steps: run an argv with a timeout in its own process group, heartbeating.

A command starts with a clean environment (activities.environment) and its output has every known secret
value redacted before it leaves this module, so neither reaches a result, a failure or a history.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.environment import child_environment, redact, secrets_to_hide
from standby.contracts import names
from standby.contracts.commands import FAILED, NOT_STARTED, TIMED_OUT, CommandInput, CommandResult

T = TypeVar("T")

OUTPUT_LIMIT = 64 * 1024
"""Bytes of stdout and of stderr kept for the report: the tail, where errors usually are."""

KILL_GRACE_SECONDS = 2.0
"""Time a hook gets between SIGTERM and SIGKILL to clean up after itself."""

DRAIN_SECONDS = 1.0
"""Time to wait for output after exit: a daemon started by the hook may hold the pipes open forever."""

HEARTBEAT_SECONDS = 5.0
"""Heartbeat interval when the caller set no heartbeat timeout."""

class _Tail:
    """The last bytes read from a stream: OUTPUT_LIMIT, plus a margin for the secrets redacted from it."""

    def __init__(self, margin: int = 0) -> None:
        self.data = bytearray()
        self.margin = margin
        self.cut = False

    async def read_from(self, stream: asyncio.StreamReader) -> None:
        """Read the stream to its end, keeping only the tail."""
        while chunk := await stream.read(65536):
            self.data += chunk
            if len(self.data) > OUTPUT_LIMIT + self.margin:
                self.cut = True
                del self.data[:-(OUTPUT_LIMIT + self.margin)]

    def text(self, secrets: list[str]) -> str:
        """The tail as text with the secrets redacted; a cut through a multi-byte character becomes U+FFFD."""
        text = redact(self.data.decode("utf-8", errors="replace"), secrets)
        # A secret cut by the start of the tail escapes redaction; it lies within the margin, dropped here.
        return text[self.margin:] if self.cut else text


def _kill_group(pid: int, sig: signal.Signals) -> None:
    """Signal a whole process group, ignoring one that is already gone."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, then SIGKILL it after the grace period."""
    _kill_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), KILL_GRACE_SECONDS)
    except TimeoutError:
        pass
    # Children may outlive a leader that exited on SIGTERM; the group id still reaches them.
    _kill_group(proc.pid, signal.SIGKILL)
    await proc.wait()


async def _drain(readers: list[asyncio.Task[None]]) -> None:
    """Let the readers finish, but not for longer than DRAIN_SECONDS."""
    _, pending = await asyncio.wait(readers, timeout=DRAIN_SECONDS)
    for task in pending:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)


async def run_command(inp: CommandInput, secrets: Collection[str] = ()) -> CommandResult:
    """Run inp.argv in its own process group with a clean environment; on timeout or cancellation kill the whole
    group. The output has the secrets given and the worker's secret-looking variables redacted."""
    if not inp.argv:
        raise ValueError("command step has an empty argv")
    hidden = secrets_to_hide(secrets)
    margin = max((len(s.encode()) for s in hidden), default=0)
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *inp.argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_environment(inp.env),
        cwd=inp.cwd,
        start_new_session=True,
    )
    out, err = _Tail(margin), _Tail(margin)
    assert proc.stdout is not None and proc.stderr is not None
    readers = [asyncio.create_task(out.read_from(proc.stdout)), asyncio.create_task(err.read_from(proc.stderr))]
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), inp.timeout_seconds)
    except TimeoutError:
        timed_out = True
        await _stop(proc)
    finally:
        if proc.returncode is None:
            # Cancelled (activity cancel, worker shutdown): never leave the hook running behind us.
            await asyncio.shield(_stop(proc))
        await _drain(readers)
    return CommandResult(
        argv=list(inp.argv),
        exit_code=proc.returncode if proc.returncode is not None else -1,
        stdout=out.text(hidden),
        stderr=err.text(hidden),
        duration_seconds=round(time.monotonic() - started, 3),
        timed_out=timed_out,
    )


def _heartbeat_interval() -> float:
    """A third of the caller's heartbeat timeout, so two heartbeats may be lost without a timeout."""
    timeout = activity.info().heartbeat_timeout
    if timeout is None:
        return HEARTBEAT_SECONDS
    return min(HEARTBEAT_SECONDS, max(0.1, timeout.total_seconds() / 3))


async def heartbeating(work: Awaitable[T], describe: Callable[[float], Any]) -> T:
    """Await work in an activity, heartbeating describe(elapsed seconds) until it finishes."""
    task = asyncio.ensure_future(work)
    started = time.monotonic()
    interval = _heartbeat_interval()
    try:
        while True:
            done, _ = await asyncio.wait([task], timeout=interval)
            if done:
                return task.result()
            activity.heartbeat(describe(time.monotonic() - started))
    finally:
        if not task.done():
            # Cancellation reaches us here; the task's own cleanup (killing the process group) must run.
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _last_lines(text: str, count: int = 5) -> str:
    """The last few non-blank lines of text, joined for an error message."""
    lines = [line for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:])


def _failure(name: str, inp: CommandInput, result: CommandResult) -> ApplicationError:
    """The retryable error for a hook that failed or timed out, carrying its result."""
    if result.timed_out:
        what, kind = f"timed out after {inp.timeout_seconds:g}s", TIMED_OUT
    else:
        what, kind = f"exited with code {result.exit_code}", FAILED
    tail = _last_lines(result.stderr) or _last_lines(result.stdout)
    message = f"hook {name}: {inp.argv[0]} {what}" + (f": {tail}" if tail else "")
    return ApplicationError(message, result, type=kind)


def result_of(err: BaseException) -> CommandResult | None:
    """The CommandResult a failed run_hook carried, from its ApplicationError or the ActivityError around it."""
    cause: BaseException | None = err
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    if cause is None or cause.type not in (FAILED, TIMED_OUT) or not cause.details:
        return None
    # Details come back as plain dicts: the failure converter decodes them without type hints.
    detail = cause.details[0]
    return detail if isinstance(detail, CommandResult) else CommandResult(**detail)


async def execute(inp: CommandInput, secrets: Collection[str] = ()) -> CommandResult:
    """Run a command step in an activity: heartbeats, and a failure (carrying the redacted output) unless it
    exited 0 within its timeout; `secrets` are values resolved on this worker, redacted from the output."""
    name = inp.label or (inp.argv[0] if inp.argv else "?")
    if not inp.argv:
        raise ApplicationError(f"hook {name}: empty argv", type=NOT_STARTED, non_retryable=True)
    try:
        result = await heartbeating(run_command(inp, secrets), lambda elapsed: f"{name}: running for {elapsed:.0f}s")
    except OSError as err:
        # Missing executable, missing cwd, not executable: another try cannot fix it.
        # `from None`: the message already says why, and callers read the innermost cause of a failure.
        raise ApplicationError(
            f"hook {name}: cannot start {inp.argv[0]}: {err.strerror or err} ({err.filename or inp.argv[0]})",
            type=NOT_STARTED,
            non_retryable=True,
        ) from None
    if not result.ok:
        raise _failure(name, inp, result)
    return result


@activity.defn(name=names.RUN_HOOK)
async def run_hook(inp: CommandInput) -> CommandResult:
    """Run a command step; a non-zero exit or a timeout is a retryable failure carrying the output."""
    return await execute(inp)
