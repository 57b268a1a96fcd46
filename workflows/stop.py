"""Stopping apps at a site within a deadline, fencing what cannot be stopped: in batches of machines, one activity
each (before batches: one activity per app, large waves as child workflows)."""

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from standby.contracts.batches import BATCH_MACHINES, batches
    from standby.contracts.operations import StopInput
    from standby.contracts.sites import StopResult
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
        reason = _cause(error)
        return StopResult(app=app, site=site, outcome={m: f"fenced ({reason})" for m in runbook.apps[app].machines})


async def stop_in_batches(runbook: Runbook, site: str, apps: list[str], deadline: timedelta) -> list[StopResult]:
    """Stop apps at a site, one activity per batch of machines; a batch not stopped by the deadline is fenced."""
    slots = asyncio.Semaphore(MAX_PARALLEL_BATCHES)

    async def stop(chunk: list[str]) -> list[StopResult]:
        async with slots:
            try:
                return (await actions.stop_batch(runbook, site, chunk, deadline)).results
            except ActivityError as error:
                fenced = f"fenced ({_cause(error)})"
                return [StopResult(app=a, site=site, outcome=dict.fromkeys(runbook.apps[a].machines, fenced))
                        for a in chunk]

    chunks = batches({a: len(runbook.apps[a].machines) for a in apps}, BATCH_MACHINES)
    return [result for results in await asyncio.gather(*(stop(c) for c in chunks)) for result in results]


def _cause(error: BaseException) -> str:
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
