"""Start when ready: an app of a group starts as soon as the apps it depends on in the group are healthy.

The plan's waves say which apps may run together; waiting for a whole wave would make every app wait for the
slowest of the wave before it. Here each app waits only for its own dependencies. Apps that become ready at the
same moment start together, in batches of at most BATCH_MACHINES machines (one launch activity each).
"""

import asyncio
from collections.abc import Awaitable, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.contracts.batches import BATCH_MACHINES, batches
    from standby.contracts.operations import AppOutcome
    from standby.plan_steps import AppStep, GroupStage

# Batches of one group in flight at once: 20 x 200 machines, far below Temporal's 2,000 pending activities.
MAX_PARALLEL_BATCHES = 20
# A group that fails or is cancelled first cancels its batches still running and waits for them: nothing of it
# launches or moves after it ended, also when the operation recovered it inline and goes on (its cleanup, a report).
SETTLED = "settled-batches"

RunBatch = Callable[[list[AppStep], Callable[[str], None]], Awaitable[list[AppOutcome]]]


async def recover_when_ready(stage: GroupStage, run_batch: RunBatch) -> list[AppOutcome]:
    """Every app of the stage, each batch started once its apps' dependencies in the group are healthy.

    `run_batch(apps, healthy)` recovers a batch and calls `healthy(app)` as each of its apps becomes healthy.
    """
    order = [app for wave in stage.waves for app in wave.apps]
    members = {app.app for app in order}
    healthy: set[str] = set()
    slots = asyncio.Semaphore(MAX_PARALLEL_BATCHES)
    running: list[asyncio.Task[list[AppOutcome]]] = []

    def ready(app: AppStep) -> bool:
        return all(d in healthy or d not in members for d in app.depends_on)

    async def batch(apps: list[AppStep]) -> list[AppOutcome]:
        async with slots:
            return await run_batch(apps, healthy.add)

    waiting = order

    def progressed() -> bool:
        return any(map(ready, waiting)) or any(map(_failed, running))

    try:
        while waiting:
            now = [app for app in waiting if ready(app)]
            waiting = [app for app in waiting if not ready(app)]
            by_name = {app.app: app for app in now}
            for names in batches({app.app: len(app.machines) for app in now}, BATCH_MACHINES):
                running.append(asyncio.create_task(batch([by_name[n] for n in names])))
            if waiting:
                # A failed batch ends the wait too: its apps' dependents would never become ready.
                await workflow.wait_condition(progressed)
                for task in filter(_failed, running):
                    await task
        return [outcome for outcomes in await asyncio.gather(*running) for outcome in outcomes]
    except GeneratorExit:
        # Evicted from this worker, the coroutine is collected outside the workflow's loop: nothing to settle.
        raise
    except BaseException:
        if workflow.patched(SETTLED):
            await _settle(running)
        raise


async def _settle(running: list[asyncio.Task[list[AppOutcome]]]) -> None:
    """Cancel the batches still running and wait until each has ended."""
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


def _failed(task: asyncio.Task[list[AppOutcome]]) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)
