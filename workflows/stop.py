"""Stopping apps at a site within a deadline, fencing what cannot be stopped: a site's waves in one activity (before:
one activity per batch of machines; before batches: one activity per app, large waves as child workflows)."""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, RetryState, is_cancelled_exception
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from standby.contracts.batches import BATCH_MACHINES, batches
    from standby.contracts.operations import StopInput
    from standby.contracts.sites import StopResult, machine_index
    from standby.contracts.stops import WavesProgress, out_of_time
    from standby.plan_steps import StopWaves
    from standby.runbook import Runbook
    from workflows import actions

# Apps stopped at once; bounds pending activities far below Temporal's 2,000.
MAX_PARALLEL_STOPS = 100
# Batches of machines stopped at once: 20 x 200 machines a wave.
MAX_PARALLEL_BATCHES = 20
# Stops in batches of machines, one activity each, inline (workflows/interpreter.py).
BATCHED_STOP = "batched-stop"


async def stop_or_fence(runbook: Runbook, site: str, app: str, deadline: timedelta) -> StopResult:
    """Stop an app at a site; when that fails or its worker is gone past the deadline, its machines are fenced.

    A fenced machine may still run, but the operation's newer epoch makes every provider refuse its old
    routes and launches, so it can no longer serve; the result says so and why.
    """
    try:
        return await actions.stop_app(runbook, site, app, deadline)
    except ActivityError as error:
        reason = _why(error, deadline)
        return StopResult(app=app, site=site, outcome={m: f"fenced ({reason})" for m in runbook.apps[app].machines})


async def stop_in_batches(runbook: Runbook, site: str, apps: list[str], deadline: timedelta,
                          in_order: bool = False) -> list[StopResult]:
    """Stop apps at a site, one activity per batch of machines (`in_order`: one activity, one app after the other);
    a batch not stopped by the deadline is fenced."""
    slots = asyncio.Semaphore(MAX_PARALLEL_BATCHES)
    # Once per wave, not per batch: at 10,000 machines, once per batch kept a workflow task past the SDK's 2 s
    # deadlock deadline on a loaded machine, and the task failed over and over.
    index = machine_index(runbook)

    async def stop(chunk: list[str]) -> list[StopResult]:
        async with slots:
            try:
                return (await actions.stop_batch(runbook, site, chunk, deadline, in_order, index)).results
            except ActivityError as error:
                fenced = f"fenced ({_why(error, deadline)})"
                return [StopResult(app=a, site=site, outcome=dict.fromkeys(runbook.apps[a].machines, fenced))
                        for a in chunk]

    chunks = [apps] if in_order else batches({a: len(runbook.apps[a].machines) for a in apps}, BATCH_MACHINES)
    return [result for results in await asyncio.gather(*(stop(c) for c in chunks)) for result in results]


async def stop_waves(runbook: Runbook, step: StopWaves, deadline: timedelta) -> tuple[WavesProgress, bool]:
    """A site's waves stopped in one activity, and whether the operation was aborted meanwhile.

    Not aborted, every app has an outcome: where the activity failed (its site worker gone), what its last
    heartbeat says was stopped, the rest fenced. Aborted, only what the activity did: the SDK reports a cancelled
    activity without its details, so the activity answers the cancel with its progress and the cancel waits for it.
    """
    call = asyncio.ensure_future(_attempt(runbook, step, deadline))
    try:
        return await asyncio.shield(call), False
    except asyncio.CancelledError:
        call.cancel()
        try:
            return await call, True
        except asyncio.CancelledError:
            return WavesProgress(), True


async def _attempt(runbook: Runbook, step: StopWaves, deadline: timedelta) -> WavesProgress:
    try:
        return await actions.stop_waves(runbook, step.site, step.waves, deadline)
    except ActivityError as error:
        kept = _kept(error)
        if is_cancelled_exception(error):
            return kept
        fenced = f"fenced ({_why(error, deadline)})"
        done = set(kept.apps())
        kept.results += [StopResult(app=a, site=step.site, outcome=dict.fromkeys(runbook.apps[a].machines, fenced))
                         for a in step.apps() if a not in done]
        return kept


def _kept(error: ActivityError) -> WavesProgress:
    """What the activity's last heartbeat said it had done: a timeout carries it (a site worker gone mid-way)."""
    details = error.cause.last_heartbeat_details if isinstance(error.cause, ActivityTimeout) else ()
    try:
        return WavesProgress.model_validate(details[-1]) if details else WavesProgress()
    except ValidationError:
        return WavesProgress()


def _why(error: ActivityError, deadline: timedelta) -> str:
    """Why the stop failed: the provider's own error (it names the site and where it tried), and the deadline when
    the stop ran out of it."""
    reason, cause = "", error.cause
    while cause is not None and not reason:
        # The provider's error is the first application error of the chain; the ones below it are its causes.
        reason = cause.message if isinstance(cause, ApplicationError) else ""
        cause = cause.__cause__
    if error.retry_state != RetryState.TIMEOUT and not isinstance(error.cause, ActivityTimeout):
        return reason or _innermost(error)
    # Out of time, Temporal may give up without the last try's error ("Not enough time to schedule next retry");
    # the site worker's log and the activity in the UI keep it.
    return out_of_time(deadline, reason)


def _innermost(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error) or type(error).__name__


@workflow.defn(name="StopApps")
class StopAppsWorkflow:
    """Stop a batch of apps of one wave at a site, in parallel."""

    @workflow.run
    async def run(self, inp: StopInput) -> list[StopResult]:
        """Each app stopped gracefully, then forcibly; past the deadline, fenced."""
        slots = asyncio.Semaphore(MAX_PARALLEL_STOPS)

        async def stop(app: str) -> StopResult:
            async with slots:
                return await stop_or_fence(inp.runbook, inp.site, app, inp.deadline)

        return list(await asyncio.gather(*(stop(app) for app in inp.apps)))
