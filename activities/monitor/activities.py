"""The protect monitor's activities, registered on every worker; each runs on the queue of the site it watches."""

from pathlib import Path

from temporalio import activity

from activities.monitor.health import HealthWatcher
from activities.monitor.metrics import ProcessMetrics
from standby.contracts import names
from standby.contracts.monitor import HealthReport, HealthWatch


class MonitorActivities:
    """App watches, with the process readings a worker keeps between them."""

    def __init__(self, state_dir: Path):
        self.health = HealthWatcher(ProcessMetrics(state_dir))

    @activity.defn(name=names.WATCH_HEALTH)
    async def watch_health(self, inp: HealthWatch) -> HealthReport:
        """Check apps where they serve until one faults, a rule holds, or the window ends."""
        return await self.health.watch(inp)

    def all(self) -> list:
        """Every activity of this class, for the worker."""
        return [self.watch_health]
