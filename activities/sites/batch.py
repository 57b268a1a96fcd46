"""Batches of machines in one activity: each app's moment chosen once, machines launched (or apps stopped) at once,
progress heartbeated as machines finish, so that a retry after a crash does only what is unfinished.

A provider with a batch call of its own (`launch_batch`: AWS DRS StartRecovery, 200 servers a call) gets the
machines in one call; any other provider gets them concurrently, one `launch` each.
"""

import asyncio
from collections.abc import Callable
from typing import Protocol, TypeVar, runtime_checkable

from pydantic import ValidationError
from temporalio import activity

from activities.sites.base import PermanentProviderError, SiteProvider
from standby.contracts.batches import BATCH_MACHINES, LaunchBatchInput, LaunchProgress, StopBatchInput, StopProgress
from standby.contracts.sites import AppInput, LaunchInput, MachineRef, PointsInput, RecoveryPoint, StopResult, Target
from standby.moment import NoConsistentPoint, consistent


@runtime_checkable
class BatchLauncher(Protocol):
    """A provider that launches many machines in one call of its infrastructure."""

    async def launch_batch(self, inputs: list[LaunchInput]) -> list[Target]:
        """Launch machines; a second call with the same keys returns the first targets."""
        ...


P = TypeVar("P", LaunchProgress, StopProgress)

# Recovery point listings in flight at once: a whole batch, as its launches are.
MAX_LISTINGS = BATCH_MACHINES


def resumed(model: type[P]) -> P:
    """The progress an earlier attempt of this activity heartbeated, or none.

    A provider may heartbeat words of its own in between (a vSphere task's state): then the retry starts over,
    and the provider's idempotency (keys, tags) finds what the first attempt made.
    """
    details = activity.info().heartbeat_details
    try:
        return model.model_validate(details[-1]) if details else model()
    except ValidationError:
        return model()


async def choose_points(provider: SiteProvider, inp: LaunchBatchInput) -> dict[str, RecoveryPoint]:
    """Each machine's point: one moment per app (standby.moment), listed for every machine at once."""
    machines = [(app, m) for app in inp.apps for m in app.machines]
    slots = asyncio.Semaphore(MAX_LISTINGS)

    async def listing(machine: MachineRef) -> list[RecoveryPoint]:
        async with slots:
            return await provider.recovery_points(PointsInput(source=inp.source, target=inp.site, machine=machine))

    found = await asyncio.gather(*(listing(m) for _, m in machines))
    listed = {m.name: points for (_, m), points in zip(machines, found, strict=True)}
    chosen: dict[str, RecoveryPoint] = {}
    for app in inp.apps:
        try:
            chosen.update(consistent({m.name: listed[m.name] for m in app.machines}, inp.at_or_before))
        except NoConsistentPoint as error:
            raise PermanentProviderError(f"{error} [{provider.describe()}, app={app.name}]") from None
    return chosen


async def launch_batch(provider: SiteProvider, inp: LaunchBatchInput, progress: LaunchProgress) -> LaunchProgress:
    """Every machine of the batch launched once: points chosen once, finished machines never launched again.

    `progress` is what an earlier attempt heartbeated (`resumed`); it grows as machines finish.
    """
    if not progress.points:
        progress.points = await choose_points(provider, inp)
        activity.heartbeat(progress)
    done = {t.machine for t in progress.targets}
    todo = [inp.launch(app, m.name, progress.points.get(m.name)) for app in inp.apps for m in app.machines
            if m.name not in done]

    # The activity's heartbeat loop sends `progress` as it grows (activities.mapped): a heartbeat per machine
    # would serialize the growing list once per machine.
    def finished(targets: list[Target]) -> None:
        progress.targets += targets

    if isinstance(provider, BatchLauncher):
        if todo:
            finished(await provider.launch_batch(todo))
    else:
        await asyncio.gather(*(_one(provider, launch, finished) for launch in todo))
    order = {m.name: n for n, m in enumerate(m for app in inp.apps for m in app.machines)}
    progress.targets.sort(key=lambda t: order[t.machine])
    return progress


async def _one(provider: SiteProvider, inp: LaunchInput, finished: Callable[[list[Target]], None]) -> None:
    finished([await provider.launch(inp)])


async def stop_batch(provider: SiteProvider, inp: StopBatchInput, progress: StopProgress) -> StopProgress:
    """Every app of the batch stopped at once; apps an earlier attempt stopped (`progress`) are not stopped again."""
    done = {r.app for r in progress.results}

    async def stop(inp_app: AppInput) -> None:
        result: StopResult = await provider.stop_app(inp_app)
        progress.results.append(result)

    await asyncio.gather(*(stop(AppInput(site=inp.site, app=app)) for app in inp.apps if app.name not in done))
    order = {app.name: n for n, app in enumerate(inp.apps)}
    progress.results.sort(key=lambda r: order[r.app])
    return progress
