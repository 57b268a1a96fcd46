"""A benchmark site provider whose operations take known, configurable times and touch nothing.

It lives in bench/, not in the product: it measures Standby's orchestration,
not an infrastructure. Every call sleeps its configured time, so the plan's
critical path is known exactly.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime

from standby.contracts.sites import (
    AppInput,
    DirectionInput,
    IdentityInput,
    LaunchInput,
    MachineReplication,
    PointsInput,
    RecoveryPoint,
    ReplicationInput,
    SiteRef,
    StopResult,
    Target,
    TerminateInput,
)

POINT = RecoveryPoint(id="bench-point", time=datetime(2026, 1, 1, tzinfo=UTC))


@dataclass(frozen=True)
class Timings:
    """Seconds each provider operation takes."""

    launch: float = 0.0
    stop: float = 0.0
    points: float = 0.0
    identity: float = 0.0
    replicate: float = 0.0


@dataclass
class Counter:
    """Calls per operation, across every site of a worker."""

    calls: dict[str, int] = field(default_factory=dict)

    def add(self, name: str) -> None:
        """Count one call."""
        self.calls[name] = self.calls.get(name, 0) + 1


class BenchSiteProvider:
    """Implements the provider interface with sleeps of known length."""

    def __init__(self, site: SiteRef, timings: Timings, counter: Counter):
        self.site, self.timings, self.counter = site, timings, counter

    def describe(self) -> str:
        """`site=dr, provider=bench`."""
        return f"site={self.site.name}, provider=bench"

    async def _take(self, name: str, seconds: float) -> None:
        self.counter.add(name)
        if seconds:
            await asyncio.sleep(seconds)

    async def replication(self, inp: ReplicationInput) -> list[MachineReplication]:
        """Every machine in continuous data protection."""
        await self._take("replication", 0)
        return [MachineReplication(machine=m.name, phase="continuous", lag_seconds=0, latest_point=POINT.time, points=1)
                for m in inp.machines]

    async def replicate(self, inp: ReplicationInput) -> list[MachineReplication]:
        """A drain pass."""
        await self._take("replicate", self.timings.replicate)
        return await self.replication(inp)

    async def recovery_points(self, inp: PointsInput) -> list[RecoveryPoint]:
        """One point per machine."""
        await self._take("recovery_points", self.timings.points)
        return [POINT]

    async def launch(self, inp: LaunchInput) -> Target:
        """A target after `timings.launch` seconds."""
        await self._take("launch", self.timings.launch)
        return Target(key=inp.key, machine=inp.machine.name, app=inp.app.name, site=self.site.name, mode=inp.mode,
                      target_id=f"bench-{inp.machine.name}", point_id=POINT.id)

    async def start_app(self, inp: AppInput) -> list[Target]:
        """Nothing to start."""
        await self._take("start_app", 0)
        return []

    async def stop_app(self, inp: AppInput) -> StopResult:
        """Stopped after `timings.stop` seconds."""
        await self._take("stop_app", self.timings.stop)
        return StopResult(app=inp.app.name, site=self.site.name, outcome={m.name: "stopped" for m in inp.app.machines})

    async def terminate(self, inp: TerminateInput) -> list[str]:
        """Nothing to terminate."""
        await self._take("terminate", 0)
        return []

    async def set_direction(self, inp: DirectionInput) -> None:
        """Direction recorded by the runbook state only."""
        await self._take("set_direction", 0)

    async def move_identity(self, inp: IdentityInput) -> str:
        """Moved after `timings.identity` seconds."""
        await self._take("move_identity", self.timings.identity)
        return f"{inp.app.name} -> {self.site.name}"
