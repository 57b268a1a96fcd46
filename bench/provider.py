"""A benchmark site provider whose operations take known, configurable times and touch nothing.

It lives in bench/, not in the product: it measures Standby's orchestration,
not an infrastructure. Every call sleeps its configured time, so the plan's
critical path is known exactly.
"""

import asyncio
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
# Machines replicate on their own: machine i has POINTS_AHEAD[i % 3] points more than the oldest, ten seconds apart.
POINTS_AHEAD = (0, 2, 1)


@dataclass(frozen=True)
class Timings:
    """Seconds each provider operation takes."""

    launch: float = 0.0
    stop: float = 0.0
    points: float = 0.0
    identity: float = 0.0
    replicate: float = 0.0
    spread: float = 0.0


def points_of(index: int) -> list[RecoveryPoint]:
    """Machine `index`'s points, oldest first: POINT, then one every ten seconds."""
    return [RecoveryPoint(id=f"{POINT.id}-{k}", time=POINT.time + timedelta(seconds=10 * k))
            for k in range(1 + POINTS_AHEAD[index % len(POINTS_AHEAD)])]


class Record:
    """The provider's idempotency record, in a file every worker shares: one line per target made.

    A launch under a key that already made the machine's target returns it instead of making a second one,
    as DRS job tags, vSphere marks and the local site's pid files do for the real providers.
    """

    def __init__(self, path: Path):
        self.path = path

    def made(self) -> list[dict]:
        """Every target made, in order."""
        text = self.path.read_text() if self.path.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    def find(self, key: str, machine: str) -> bool:
        """Whether a target of `machine` was made under `key`."""
        return any(r["key"] == key and r["machine"] == machine for r in self.made())

    def add(self, key: str, machine: str, worker: int) -> None:
        """Record a target made."""
        with self.path.open("a") as out:
            out.write(json.dumps({"key": key, "machine": machine, "worker": worker}) + "\n")


@dataclass
class Counter:
    """Calls per operation, across every site of a worker."""

    calls: dict[str, int] = field(default_factory=dict)

    def add(self, name: str) -> None:
        """Count one call."""
        self.calls[name] = self.calls.get(name, 0) + 1


class BenchSiteProvider:
    """Implements the provider interface with sleeps of known length."""

    def __init__(self, site: SiteRef, timings: Timings, counter: Counter, record: Record | None = None,
                 worker: int = 0):
        self.site, self.timings, self.counter = site, timings, counter
        self.record, self.worker = record, worker

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
        """The machine's points (points_of)."""
        await self._take("recovery_points", self.timings.points)
        return points_of(inp.machine.index)

    async def launch(self, inp: LaunchInput) -> Target:
        """A target after `timings.launch` seconds (plus `spread` per machine index); one already made is found."""
        target = Target(key=inp.key, machine=inp.machine.name, app=inp.app.name, site=self.site.name, mode=inp.mode,
                        target_id=f"bench-{inp.machine.name}", point_id=inp.point.id if inp.point else None)
        if self.record is not None and self.record.find(inp.key, inp.machine.name):
            self.counter.add("found")
            return target
        await self._take("launch", self.timings.launch + self.timings.spread * inp.machine.index)
        if self.record is not None:
            self.record.add(inp.key, inp.machine.name, self.worker)
        return target

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
