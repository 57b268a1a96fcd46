"""The protect monitor's activities, registered on every worker; each runs on the queue of the site it watches."""

from pathlib import Path
from typing import Any

from temporalio import activity

from activities.monitor.agents import Agents
from activities.monitor.health import HealthWatcher
from activities.monitor.metrics import ProcessMetrics
from activities.sites.registry import Providers
from standby.contracts import names
from standby.contracts.monitor import HealthReport, HealthWatch
from standby.contracts.pairs import PairObservation, PairWatch


class MonitorActivities:
    """App watches, with the process readings a worker keeps between them, and its sites' heartbeat agents."""

    def __init__(self, state_dir: Path, providers: Providers):
        self.health = HealthWatcher(ProcessMetrics(state_dir))
        self.agents = Agents(providers)

    @activity.defn(name=names.WATCH_HEALTH)
    async def watch_health(self, inp: HealthWatch) -> HealthReport:
        """Check apps where they serve until one faults, a rule holds, or the window ends."""
        return await self.health.watch(inp)

    @activity.defn(name=names.WATCH_PAIR)
    async def watch_pair(self, inp: PairWatch) -> PairObservation:
        """Give a site's heartbeat agent its part in the pair; what it saw, at news or the window's end."""
        return await self.agents.watch(inp)

    def all(self) -> list[Any]:
        """Every activity of this class, for the worker."""
        return [self.watch_health, self.watch_pair]
