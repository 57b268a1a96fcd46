"""Start when ready: an app of a group starts as soon as the apps it depends on in the group are healthy.

The plan's waves say which apps may run together; waiting for a whole wave would make every app wait for the
slowest of the wave before it. Here each app waits only for its own dependencies. Apps that become ready at the
same moment start together, in batches of at most LAUNCH_MACHINES machines (one launch activity each; BATCH_MACHINES
in histories from before).
"""

import asyncio
from collections.abc import Awaitable, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.contracts.batches import BATCH_MACHINES, LAUNCH_MACHINES, batches
    from standby.contracts.operations import AppOutcome
    from standby.plan_steps import AppStep, GroupStage

# Batches of one group in flight at once: 20 x 200 machines, far below Temporal's 2,000 pending activities.
MAX_PARALLEL_BATCHES = 20
# A group that fails or is cancelled first cancels its batches still running and waits for them: nothing of it
# launches or moves after it ended, also when the operation recovered it inline and goes on (its cleanup, a report).
SETTLED = "settled-batches"
# Launch batches of LAUNCH_MACHINES machines, not BATCH_MACHINES: fewer activities, and workflow tasks, per wave.
LARGER_BATCHES = "larger-launch-batches"

# A batch also takes the apps that would wait only for it, when every app in it is healthy once launched and those
# apps start at once then: their launch activity starts each as its dependencies launched (`LaunchBatchInput.after`).
CHAINED = "chained-launches"

RunBatch = Callable[[list[AppStep], Callable[[str], None], dict[str, list[str]]], Awaitable[list[AppOutcome]]]


async def recover_when_ready(stage: GroupStage, run_batch: RunBatch,
                             plain: Callable[[AppStep], bool] = lambda _: False) -> list[AppOutcome]:
    """Every app of the stage, each batch started once its apps' dependencies in the group are healthy.

    `run_batch(apps, healthy, after)` recovers a batch, each app named in `after` once the apps it names launched,
    and calls `healthy(app)` as each of its apps becomes healthy. `plain(app)`: nothing runs before its launch and
    it is healthy once launched (no hooks, checks or identity move), so a launch activity may start its dependents.
    """
    order = [app for wave in stage.waves for app in wave.apps]
    members = {app.app for app in order}
    healthy: set[str] = set()
    slots = asyncio.Semaphore(MAX_PARALLEL_BATCHES)
    running: list[asyncio.Task[list[AppOutcome]]] = []

    def ready(app: AppStep) -> bool:
        return all(d in healthy or d not in members for d in app.depends_on)

    async def batch(apps: list[AppStep], after: dict[str, list[str]] | None = None) -> list[AppOutcome]:
        async with slots:
            return await run_batch(apps, healthy.add, after or {})

    waiting = order

    def progressed() -> bool:
        return any(map(ready, waiting)) or any(map(_failed, running))

    try:
        while waiting:
            now, waiting = [app for app in waiting if ready(app)], [app for app in waiting if not ready(app)]
            chained = chains(now, waiting, members, healthy, plain) if now and workflow.patched(CHAINED) else []
            launches, waiting = _launches(now, waiting, chained, bool(now) and workflow.patched(LARGER_BATCHES))
            running += [asyncio.create_task(batch(apps, after)) for apps, after in launches]
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


def _launches(now: list[AppStep], waiting: list[AppStep], chained: list[dict[str, list[str]]],
              larger: bool) -> tuple[list[tuple[list[AppStep], dict[str, list[str]]]], list[AppStep]]:
    """The launch activities to start: each chain of `chained`, then the other apps ready now in batches; and the
    apps still waiting."""
    steps = {a.app: a for a in [*now, *waiting]}
    launches = [([steps[n] for n in apps], {n: after for n, after in apps.items() if after}) for apps in chained]
    taken = {n for apps in chained for n in apps}
    now, waiting = [a for a in now if a.app not in taken], [a for a in waiting if a.app not in taken]
    by_name = {app.app: app for app in now}
    for names in batches({app.app: len(app.machines) for app in now}, LAUNCH_MACHINES if larger else BATCH_MACHINES):
        launches.append(([by_name[n] for n in names], {}))
    return launches, waiting


def chains(now: list[AppStep], waiting: list[AppStep], members: set[str], healthy: set[str],
           plain: Callable[[AppStep], bool]) -> list[dict[str, list[str]]]:
    """Launch activities that each take ready apps with the waiting apps that depend only on them: every app of the
    group linked to a ready one by its dependencies (a tier app and its dependents), when all of those are plain
    and fit in one activity; such sets packed into activities of at most LAUNCH_MACHINES machines. Each activity
    is its apps (in group order) -> the apps of the activity each starts after. No app left waiting depends on an
    app of one: it would wait for the whole activity, not only for its dependencies. None when nothing waits to be
    chained."""
    steps = {a.app: a for a in [*now, *waiting]}
    inside = {name: [d for d in step.depends_on if d in members and d not in healthy] for name, step in steps.items()}
    linked: dict[str, set[str]] = {name: set() for name in steps}
    # An app that waits for one launching in an activity already running cannot be taken, nor what is linked to it.
    blocked = {name for name, deps in inside.items() if any(d not in steps for d in deps)}
    for name, deps in inside.items():
        for dep in deps:
            if dep in steps:
                linked[name].add(dep)
                linked[dep].add(name)
    ready, seen, packed = {a.app for a in now}, set(), []
    machines, batch = 0, dict[str, list[str]]()
    for start in (a.app for a in now):
        if start in seen:
            continue
        part, todo = [], [start]
        seen.add(start)
        while todo:
            name = todo.pop()
            part.append(name)
            todo += [n for n in linked[name] if n not in seen]
            seen.update(linked[name])
        size = sum(len(steps[n].machines) for n in part)
        if size > LAUNCH_MACHINES or blocked.intersection(part) or not all(plain(steps[n]) for n in part):
            continue
        if machines + size > LAUNCH_MACHINES:
            packed.append(batch)
            machines, batch = 0, dict[str, list[str]]()
        machines += size
        batch.update({n: [] if n in ready else inside[n] for n in part})
    if batch:
        packed.append(batch)
    if not any(after for b in packed for after in b.values()):
        # Nothing to chain: the ready apps go in batches as they did before chains.
        return []
    order = {a.app: n for n, a in enumerate([*now, *waiting])}
    return [dict(sorted(b.items(), key=lambda item: order[item[0]])) for b in packed]


async def _settle(running: list[asyncio.Task[list[AppOutcome]]]) -> None:
    """Cancel the batches still running and wait until each has ended."""
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


def _failed(task: asyncio.Task[list[AppOutcome]]) -> bool:
    return task.done() and (task.cancelled() or task.exception() is not None)
