"""The shortest time a failover can take when every provider call takes a known time (pure)."""

from bench.provider import Timings
from standby.plan import Plan
from standby.runbook import Runbook


def critical_path(runbook: Runbook, plan: Plan, timings: Timings) -> float:
    """Stop waves one after the other, the drain, then each recovery wave's slowest app chain."""
    stopping = len(plan.stop_waves()) * timings.stop + (timings.replicate if plan.stop_waves() else 0.0)
    recovering = 0.0
    for stage in plan.stages():
        for wave in stage.waves:
            recovering += max(_app_chain(runbook, plan, step.app, timings) for step in wave.apps)
    return stopping + recovering


def _app_chain(runbook: Runbook, plan: Plan, app: str, timings: Timings) -> float:
    """One app: its recovery points, its launch, its identity move (health checks and hooks excluded)."""
    moves = plan.move_identity and runbook.apps[app].endpoint is not None
    return timings.points + timings.launch + (timings.identity if moves else 0.0)
