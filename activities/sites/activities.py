"""Temporal activities over the provider interface; errors mapped once to retry semantics here.

Each step goes to the provider holding its machines at the site (activities.sites.dispatch): the site's own, or at a
mixed site the one each machine names.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.hooks import heartbeating
from activities.sites import batch, dispatch, stopping
from activities.sites.base import PermanentProviderError, ProviderError
from activities.sites.registry import Providers
from standby.contracts import names
from standby.contracts.batches import LaunchBatchInput, LaunchProgress, StopBatchInput, StopProgress
from standby.contracts.drain import Drained, DrainThenDirectionInput
from standby.contracts.sites import (
    AppInput,
    DirectionInput,
    IdentityInput,
    LaunchInput,
    MachineReplication,
    PointsInput,
    RecoveryPoint,
    ReplicationInput,
    StopResult,
    Target,
    TerminateInput,
)
from standby.contracts.stops import StopWavesInput, WavesProgress

T = TypeVar("T")


async def mapped(call: Awaitable[T], details: Callable[[float], Any] | None = None) -> T:
    """Provider errors as ApplicationErrors: permanent ones non-retryable, the rest for the retry policy.

    The call heartbeats while it runs (`details(elapsed)`, by default how long), so a worker that dies mid-call
    is noticed within the heartbeat timeout.
    """
    name = activity.info().activity_type
    try:
        return await heartbeating(call, details or (lambda elapsed: f"{name}: {elapsed:.0f}s"))
    except PermanentProviderError as error:
        raise ApplicationError(str(error), type=type(error).__name__, non_retryable=True) from error
    except ProviderError as error:
        raise ApplicationError(str(error), type=type(error).__name__) from error


class SiteActivities:
    """Every site step, dispatched to the provider of the site it names."""

    def __init__(self, providers: Providers):
        self.providers = providers

    async def _each(self, parts: list, call: str) -> list[MachineReplication]:
        """The call at the provider of each part (one at a site with one provider), the states in machine order."""
        found: list[MachineReplication] = []
        for part in parts:
            found += await mapped(getattr(self.providers.for_site(part.target), call)(part))
        return found

    @activity.defn(name=names.REPLICATION_STATUS)
    async def replication_status(self, inp: ReplicationInput) -> list[MachineReplication]:
        """Replication state of machines replicated into inp.target."""
        states = await self._each(dispatch.by_machines(inp), "replication")
        metrics.REPLICATION.update(inp, states)
        return states

    @activity.defn(name=names.REPLICATE)
    async def replicate(self, inp: ReplicationInput) -> list[MachineReplication]:
        """Drive replication for a while (heartbeating) and report its state (`behind_only`: of the machines not in
        continuous data protection); this worker's gauges show every machine's."""
        states = await self._each(dispatch.by_machines(inp), "replicate")
        metrics.REPLICATION.update(inp, states)
        return [s for s in states if s.phase != "continuous"] if inp.behind_only else states

    @activity.defn(name=names.RECOVERY_POINTS)
    async def recovery_points(self, inp: PointsInput) -> list[RecoveryPoint]:
        """Recovery points of one machine."""
        inp = dispatch.for_machine(inp)
        return await mapped(self.providers.for_site(inp.target).recovery_points(inp))

    @activity.defn(name=names.LAUNCH_TARGET)
    async def launch_target(self, inp: LaunchInput) -> Target:
        """Launch a machine's target, idempotent on the operation key."""
        inp = dispatch.for_machine(inp)
        target = await mapped(self.providers.for_site(inp.site).launch(inp))
        return target.model_copy(update={"provider": batch.holder(inp.site)})

    @activity.defn(name=names.LAUNCH_TARGETS)
    async def launch_targets(self, inp: LaunchBatchInput) -> LaunchProgress:
        """Launch a batch of machines, each app from one moment; a retry launches only what is unfinished."""
        progress = batch.resumed(LaunchProgress)
        return await mapped(batch.launch_batch(self.providers, inp, progress), lambda _: progress)

    @activity.defn(name=names.STOP_APPS)
    async def stop_apps(self, inp: StopBatchInput) -> StopProgress:
        """Stop a batch of apps; a retry stops only those not yet stopped."""
        progress = batch.resumed(StopProgress)
        return await mapped(batch.stop_batch(self.providers, inp, progress), lambda _: progress)

    @activity.defn(name=names.STOP_WAVES)
    async def stop_waves(self, inp: StopWavesInput) -> WavesProgress:
        """Stop a site's waves one after the other; a retry resumes where the first attempt was. Cancelled by the
        workflow (an abort), it returns what it stopped: the workflow waits for that, so its record stays true."""
        waves = stopping.Waves(self.providers, inp, batch.resumed(WavesProgress))
        try:
            # Shielded: the heartbeat loop cancels what it awaits, and an abort must let the wave in flight end.
            return await mapped(asyncio.shield(waves.task), lambda _: waves.sent())
        except asyncio.CancelledError:
            if not stopping.asked_to_cancel():
                # The worker shuts down: a retry on another one resumes from the heartbeat.
                waves.task.cancel()
                raise
            return await waves.aborted()

    @activity.defn(name=names.START_APP)
    async def start_app(self, inp: AppInput) -> list[Target]:
        """Start an app's machines at a site from its own data."""
        inp = dispatch.for_app(inp)
        started = await mapped(self.providers.for_site(inp.site).start_app(inp))
        return [t.model_copy(update={"provider": batch.holder(inp.site)}) for t in started]

    @activity.defn(name=names.STOP_APP)
    async def stop_app(self, inp: AppInput) -> StopResult:
        """Stop an app's machines at a site."""
        inp = dispatch.for_app(inp)
        stopped = await mapped(self.providers.for_site(inp.site).stop_app(inp))
        return stopped.model_copy(update={"provider": batch.holder(inp.site)})

    @activity.defn(name=names.TERMINATE_TARGETS)
    async def terminate_targets(self, inp: TerminateInput) -> list[str]:
        """Remove the targets an operation launched, at every provider of the site."""
        return [ident for part in dispatch.every_provider(inp)
                for ident in await mapped(self.providers.for_site(part.site).terminate(part))]

    @activity.defn(name=names.SET_DIRECTION)
    async def set_direction(self, inp: DirectionInput) -> str | None:
        """Reverse (or pause) replication; what the target site did to make way for it, if anything."""
        done = [await mapped(self.providers.for_site(part.target).set_direction(part))
                for part in dispatch.by_machines(inp)]
        return "; ".join(d for d in done if d) or None

    @activity.defn(name=names.DRAIN_THEN_SET_DIRECTION)
    async def drain_then_set_direction(self, inp: DrainThenDirectionInput) -> Drained:
        """A drain pass, then replication set as the plan's next step says: one activity where two would each take
        a round trip between the stop and the first launch of a failover."""
        behind = await self.replicate(inp.drain)
        return Drained(behind=behind, direction=await self.set_direction(inp.direction_input()))

    @activity.defn(name=names.MOVE_IDENTITY)
    async def move_identity(self, inp: IdentityInput) -> str:
        """Point an app's network identity at a site."""
        inp = dispatch.for_app(inp)
        return await mapped(self.providers.for_site(inp.site).move_identity(inp))

    def all(self) -> list:
        """Every activity of this class, for the worker."""
        return [self.replication_status, self.replicate, self.recovery_points, self.launch_target,
                self.launch_targets, self.start_app, self.stop_app, self.stop_apps, self.stop_waves,
                self.terminate_targets, self.set_direction, self.drain_then_set_direction, self.move_identity]
