"""The activities of a warm switchover (standby.warm): start apps warm before the source stops, cut them over after.

A cutover does in one activity what a cold recovery does in several: for each app, in the order given (dependency
order), promote its warm processes, wait for its health checks, move its identity. Each round trip between a
workflow and a worker is time the shop's clients cannot write.
"""

import asyncio
import time
from typing import Protocol, runtime_checkable

from temporalio import activity

from activities import checks
from activities.sites import batch
from activities.sites.activities import mapped
from activities.sites.base import PermanentProviderError
from activities.sites.registry import Providers
from standby.contracts import names
from standby.contracts.batches import LaunchBatchInput, LaunchProgress
from standby.contracts.checks import HealthInput, ProbeResult, health_input
from standby.contracts.sites import AppRef, IdentityInput, LaunchInput, SiteRef, Target
from standby.contracts.warm import CutOverInput, CutOverProgress
from standby.durations import format_duration

# How often a cutover probes an app that is not healthy yet: well under the time a promoted app takes.
PROBE_EVERY = 0.02


@runtime_checkable
class WarmStarter(Protocol):
    """A provider that starts machines warm and promotes them (the local one)."""

    async def start_warm(self, inp: LaunchInput) -> Target:
        """Start a machine warm; a second call with the same key finds the first process."""
        ...

    async def promote(self, inp: LaunchInput) -> Target:
        """Give a warm machine its drained data and tell it to serve; a second call restores nothing again."""
        ...


class WarmActivities:
    """The warm start and the cutover, at the provider of the site they name."""

    def __init__(self, providers: Providers):
        self.providers = providers

    def _starter(self, site: SiteRef) -> WarmStarter:
        provider = self.providers.for_site(site)
        if not isinstance(provider, WarmStarter):
            raise PermanentProviderError(f"site {site.name} cannot start apps warm [{provider.describe()}]; "
                                         "drop 'warm' from the runbook's apps")
        return provider

    @activity.defn(name=names.START_WARM)
    async def start_warm(self, inp: LaunchBatchInput) -> LaunchProgress:
        """Stateless apps launched in full from their newest point, the others started warm; a retry finds them."""
        return await mapped(self._start_warm(inp))

    async def _start_warm(self, inp: LaunchBatchInput) -> LaunchProgress:
        starter = self._starter(inp.site)
        stateless = [app for app in inp.apps if app.config.warm is not None and app.config.warm.stateless]
        # A retry starts over: the provider's keys find what the first try started, so nothing starts twice.
        progress = LaunchProgress()
        if stateless:
            await batch.launch_batch(self.providers, inp.model_copy(update={"apps": stateless}), progress)
        warm = [inp.launch(app, m.name, None) for app in inp.apps if app not in stateless for m in app.machines]
        progress.targets += await asyncio.gather(*map(starter.start_warm, warm))
        return progress

    @activity.defn(name=names.CUT_OVER)
    async def cut_over(self, inp: CutOverInput) -> CutOverProgress:
        """App after app: promote, health, identity (`move`), heartbeating what is done so a retry skips it."""
        progress = batch.resumed(CutOverProgress)
        return await mapped(self._cut_over(inp, progress), lambda _: progress)

    async def _cut_over(self, inp: CutOverInput, progress: CutOverProgress) -> CutOverProgress:
        starter = self._starter(inp.site)
        standby = [app for app in inp.apps if app.config.warm is not None and app.config.warm.standby]
        if standby and not progress.points:
            progress.points = await batch.choose_points(self.providers, inp.model_copy(update={"apps": standby}))
        for app in inp.apps:
            if app.name in progress.done:
                continue
            targets = await self._promoted(starter, inp, app, progress) if app in standby else [
                t for t in inp.targets if t.app == app.name]
            done = ["promoted"] if app in standby else []
            if inp.move:
                done += [await _healthy(app, targets), await self._move(inp, app, targets)]
            progress.targets += targets
            progress.done[app.name] = "; ".join(done)
            activity.heartbeat(progress)
        return progress

    async def _promoted(self, starter: WarmStarter, inp: CutOverInput, app: AppRef,
                        progress: CutOverProgress) -> list[Target]:
        return list(await asyncio.gather(*(starter.promote(inp.launch(app, m.name, progress.points.get(m.name)))
                                           for m in app.machines)))

    async def _move(self, inp: CutOverInput, app: AppRef, targets: list[Target]) -> str:
        if app.config.endpoint is None:
            return "no identity to move"
        move = IdentityInput(runbook=inp.site.runbook, app=app, site=inp.site, targets=targets, epoch=inp.epoch,
                             peers=inp.peers)
        return await self.providers.for_site(inp.site).move_identity(move)

    def all(self) -> list:
        """Every activity of this class, for the worker."""
        return [self.start_warm, self.cut_over]


async def _healthy(app: AppRef, targets: list[Target]) -> str:
    """Every health check of the app passes on every target, probed every PROBE_EVERY seconds up to its `within`."""
    passed = []
    for check in app.config.health:
        for target in targets:
            probe, deadline = health_input(app, check, target), time.monotonic() + check.within.total_seconds()
            while not (result := await _probe(probe)).ok:
                if time.monotonic() >= deadline:
                    raise PermanentProviderError(f"{app.name}/{target.machine} not healthy within "
                                                 f"{format_duration(check.within)}: {result.detail}")
                await asyncio.sleep(PROBE_EVERY)
            passed.append(f"healthy ({check.describe()})")
    return ", ".join(passed) or "no health checks"


async def _probe(probe: HealthInput) -> ProbeResult:
    try:
        return await checks.probe(probe)
    except checks.BadCheckError as error:
        raise PermanentProviderError(f"health check {probe.label} cannot run: {error}") from None
