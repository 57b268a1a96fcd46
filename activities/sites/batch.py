"""Batches of machines in one activity: each app's moment chosen once, machines launched (or apps stopped) at once,
progress heartbeated as machines finish, so that a retry after a crash does only what is unfinished.

A provider with a batch call of its own (`launch_batch`: AWS DRS StartRecovery, 200 servers a call) gets the
machines in one call; any other provider gets them concurrently, one `launch` each, which a provider that waits
for tasks (`together`: vSphere) runs with one wait for all their tasks. There each machine has its own outcome:
the others finish when one fails, and the batch then fails naming each machine that did, for a retry to relaunch.
Stop batches do likewise, app by app.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Protocol, TypeVar, runtime_checkable

from pydantic import ValidationError
from temporalio import activity

from activities.sites import dispatch
from activities.sites.base import PermanentProviderError, ProviderError, SiteProvider, failed
from activities.sites.registry import Providers
from standby.contracts.batches import LAUNCH_MACHINES, LaunchBatchInput, LaunchProgress, StopBatchInput, StopProgress
from standby.contracts.sites import (
    AppInput,
    AppRef,
    LaunchInput,
    MachineRef,
    PointsInput,
    RecoveryPoint,
    SiteRef,
    StopResult,
    Target,
)
from standby.contracts.stops import WavesProgress
from standby.contracts.warm import CutOverProgress
from standby.holders import label
from standby.moment import NoConsistentPoint, consistent


@runtime_checkable
class BatchLauncher(Protocol):
    """A provider that launches many machines in one call of its infrastructure."""

    async def launch_batch(self, inputs: list[LaunchInput]) -> list[Target]:
        """Launch machines; a second call with the same keys returns the first targets."""
        ...


@runtime_checkable
class TaskBatcher(Protocol):
    """A provider whose concurrent calls of one batch wait for their infrastructure's tasks together."""

    async def together(self, calls: list[Awaitable[None]]) -> None:
        """Run the calls to their end concurrently."""
        ...


P = TypeVar("P", LaunchProgress, StopProgress, CutOverProgress, WavesProgress)

# Recovery point listings in flight at once: a whole batch, as its launches are.
MAX_LISTINGS = LAUNCH_MACHINES


def resumed(model: type[P]) -> P:
    """The progress an earlier attempt of this activity heartbeated, or none.

    Details that are not this model (words a provider heartbeated in between) start the retry over, and the
    provider's idempotency (keys, tags) finds what the first attempt made.
    """
    details = activity.info().heartbeat_details
    try:
        return model.model_validate(details[-1]) if details else model()
    except ValidationError:
        return model()


async def choose_points(providers: Providers, inp: LaunchBatchInput) -> dict[str, RecoveryPoint]:
    """Each machine's point: one moment per app (standby.moment), listed for every machine at once."""
    slots = asyncio.Semaphore(MAX_LISTINGS)

    async def listing(machine: MachineRef) -> list[RecoveryPoint]:
        part = dispatch.for_machine(PointsInput(source=inp.source, target=inp.site, machine=machine))
        async with slots:
            return await providers.for_site(part.target).recovery_points(part)

    machines = [m for app in inp.apps for m in app.machines]
    listed = dict(zip((m.name for m in machines), await asyncio.gather(*map(listing, machines)), strict=True))
    chosen: dict[str, RecoveryPoint] = {}
    for app in inp.apps:
        try:
            chosen.update(consistent({m.name: listed[m.name] for m in app.machines}, inp.at_or_before))
        except NoConsistentPoint as error:
            raise PermanentProviderError(f"{error} [site={inp.site.name}, app={app.name}]") from None
    return chosen


async def launch_batch(providers: Providers, inp: LaunchBatchInput, progress: LaunchProgress) -> LaunchProgress:
    """Every machine of the batch launched once: points chosen once, finished machines never launched again.

    `progress` is what an earlier attempt heartbeated (`resumed`); it grows as machines finish. At a mixed site
    each machine goes to the provider holding it there (activities.sites.dispatch). An app in `inp.after` starts as
    soon as the apps it names launched.
    """
    if not progress.points:
        progress.points = await choose_points(providers, inp)
        activity.heartbeat(progress)
    done = {t.machine for t in progress.targets}
    left = {app.name: {m.name for m in app.machines} - done for app in inp.apps}
    waited = {d for names in inp.after.values() for d in names}
    progressed = asyncio.Event()

    # The activity's heartbeat loop sends `progress` as it grows (activities.mapped): a heartbeat per machine
    # would serialize the growing list once per machine.
    def finished(site: SiteRef, targets: list[Target]) -> None:
        name = holder(site)
        progress.targets += [t if t.provider == name else t.model_copy(update={"provider": name}) for t in targets]
        for target in targets:
            progress.failed.pop(target.machine, None)
            machines = left.get(target.app)
            if machines is not None and target.machine in machines:
                machines.discard(target.machine)
                if not machines and target.app in waited:
                    progress.ended[target.app] = datetime.now(UTC)
                    progressed.set()

    failures: dict[str, ProviderError] = {}
    if inp.after:
        await _chained(inp, progress, left, progressed,
                       lambda apps: _launch_apps(providers, inp, apps, done, progress, finished, failures))
    else:
        await _launch_apps(providers, inp, inp.apps, done, progress, finished, failures)
    order = {m.name: n for n, m in enumerate(m for app in inp.apps for m in app.machines)}
    progress.targets.sort(key=lambda t: order[t.machine])
    if failures:
        raise _failed(progress, failures)
    return progress


async def _launch_apps(providers: Providers, inp: LaunchBatchInput, apps: list[AppRef], done: set[str],
                       progress: LaunchProgress, finished: Callable[[SiteRef, list[Target]], None],
                       failures: dict[str, ProviderError]) -> None:
    """The machines of `apps` not `done` yet, each provider's in its own call (or calls)."""
    parts: dict[str, list[LaunchInput]] = {}
    for app in apps:
        for machine in app.machines:
            if machine.name not in done:
                launch = dispatch.for_machine(inp.launch(app, machine.name, progress.points.get(machine.name)))
                parts.setdefault(launch.site.holder, []).append(launch)
    await asyncio.gather(*(_launch(providers.for_site(part[0].site), part, finished, failures)
                           for part in parts.values()))


async def _chained(inp: LaunchBatchInput, progress: LaunchProgress, left: dict[str, set[str]],
                   progressed: asyncio.Event, launch: Callable[[list[AppRef]], Awaitable[None]]) -> None:
    """The apps launched as they become ready: each once the apps it starts after (`inp.after`) launched; those
    ready at the same moment in one call. An app whose dependency failed is not launched: the batch fails naming
    the failure, and its retry launches the app after it."""
    waiting = [app for app in inp.apps if left[app.name]]
    tasks: list[asyncio.Task[None]] = []
    try:
        while waiting:
            launched = {name for name, machines in left.items() if not machines}
            now = [app for app in waiting if all(d in launched for d in inp.after.get(app.name, ()))]
            if now:
                began, names = datetime.now(UTC), {app.name for app in now}
                for app in now:
                    if app.name in inp.after:
                        progress.began.setdefault(app.name, began)
                waiting = [app for app in waiting if app.name not in names]
                tasks.append(asyncio.ensure_future(launch(now)))
            running = [task for task in tasks if not task.done()]
            if not waiting or not running:
                break
            progressed.clear()
            woken = asyncio.ensure_future(progressed.wait())
            try:
                await asyncio.wait([*running, woken], return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
        for outcome in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome
    finally:
        # Cancelled (an abort, a worker shutting down) or failed: no launch goes on after the activity ended.
        unfinished = [task for task in tasks if not task.done()]
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)


async def _launch(provider: SiteProvider, part: list[LaunchInput], finished: Callable[[SiteRef, list[Target]], None],
                  failures: dict[str, ProviderError]) -> None:
    """One provider's machines: in its own batch call if it has one, else concurrently, each with its outcome."""
    if isinstance(provider, BatchLauncher):
        finished(part[0].site, await provider.launch_batch(part))
        return

    async def one(launch: LaunchInput) -> None:
        try:
            finished(launch.site, [await provider.launch(launch)])
        except ProviderError as error:
            failures[launch.machine.name] = error

    await _together(provider, [one(launch) for launch in part])


async def _together(provider: SiteProvider, calls: list[Awaitable[None]]) -> None:
    """The calls concurrently, with one wait for all their tasks at a provider that waits for tasks."""
    if isinstance(provider, TaskBatcher):
        await provider.together(calls)
    else:
        await asyncio.gather(*calls)


def _failed(progress: LaunchProgress, failures: dict[str, ProviderError]) -> ProviderError:
    """The batch's error naming each machine that failed, once its progress (the others' targets) is heartbeated.

    Permanent only when every failure is: a retry relaunches the failed machines, and only them.
    """
    progress.failed.update({machine: str(error) for machine, error in failures.items()})
    activity.heartbeat(progress)
    return failed(failures, len(failures) + len(progress.targets), "machines failed to launch")


async def stop_batch(providers: Providers, inp: StopBatchInput, progress: StopProgress) -> StopProgress:
    """Every app of the batch stopped (at once, or in order); apps an earlier attempt stopped (`progress`) are not
    stopped again; the batch fails naming each app that did not stop, for a retry to stop again."""
    done = {r.app for r in progress.results}
    failures = await stop_each(providers, inp.site, [app for app in inp.apps if app.name not in done],
                               progress.results, inp.in_order)
    order = {app.name: n for n, app in enumerate(inp.apps)}
    progress.results.sort(key=lambda r: order[r.app])
    if failures:
        activity.heartbeat(progress)
        raise failed(failures, len(failures) + len(progress.results), "apps failed to stop")
    return progress


async def stop_each(providers: Providers, site: SiteRef, apps: list[AppRef], results: list[StopResult],
                    in_order: bool = False) -> dict[str, ProviderError]:
    """Stop the apps, appending each app's result to `results` as it stops; the error of each app that did not.

    Apps stopped at once wait for their tasks together (`together`), one provider's apps in one wait; each app has
    its own outcome: the others stop when one fails. In order, the first app that fails ends the stop.
    """
    failures: dict[str, ProviderError] = {}

    async def stop(part: AppInput) -> None:
        try:
            result = await providers.for_site(part.site).stop_app(part)
        except ProviderError as error:
            failures[part.app.name] = error
            return
        name = holder(part.site)
        results.append(result if result.provider == name else result.model_copy(update={"provider": name}))

    parts = [dispatch.for_app(AppInput(site=site, app=app)) for app in apps]
    if in_order:
        for part in parts:
            await _together_or_fail(providers, [part], stop, failures)
            if failures:
                break
    else:
        same: dict[str, list[AppInput]] = {}
        for part in parts:
            same.setdefault(part.site.holder, []).append(part)
        await asyncio.gather(*(_together_or_fail(providers, apps, stop, failures) for apps in same.values()))
    if not failures:
        return {}
    stopped = {r.app for r in results}
    return {app: error for app, error in failures.items() if app not in stopped}


async def _together_or_fail(providers: Providers, parts: list[AppInput], stop: Callable[[AppInput], Awaitable[None]],
                            failures: dict[str, ProviderError]) -> None:
    """One provider's stops together; when the provider fails as a whole (a vCenter out of reach before any task),
    its error is each app's."""
    try:
        await _together(providers.for_site(parts[0].site), list(map(stop, parts)))
    except ProviderError as error:
        failures.update({part.app.name: error for part in parts if part.app.name not in failures})


def holder(site: SiteRef) -> str:
    """What results name as the provider that acted: at a mixed site `cloud (aws)`; elsewhere the site says it."""
    return label(site) if site.holder else ""
