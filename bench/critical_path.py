"""The shortest time a failover can take when every provider call takes a known time (pure)."""

from bench.provider import Timings
from standby.plan import Plan
from standby.plan_steps import GroupStage
from standby.runbook import Runbook


def critical_path(runbook: Runbook, plan: Plan, timings: Timings) -> float:
    """Stop waves one after the other, the drain, then each group's slowest chain of dependencies.

    Groups recover one after the other; within a group an app starts as soon as the apps it depends on are
    healthy, so a group takes as long as its slowest chain of apps (workflows/ready.py).
    """
    stopping = len(plan.stop_waves()) * timings.stop + (timings.replicate if plan.stop_waves() else 0.0)
    return stopping + sum(_slowest_chain(runbook, plan, stage, timings) for stage in plan.stages())


def _slowest_chain(runbook: Runbook, plan: Plan, stage: GroupStage, timings: Timings) -> float:
    done: dict[str, float] = {}
    for wave in stage.waves:
        for step in wave.apps:
            before = max((done[d] for d in step.depends_on if d in done), default=0.0)
            done[step.app] = before + _app_chain(runbook, plan, step.app, timings)
    return max(done.values(), default=0.0)


def _app_chain(runbook: Runbook, plan: Plan, app: str, timings: Timings) -> float:
    """One app: its recovery points, its launch, its identity move (health checks and hooks excluded)."""
    moves = plan.move_identity and runbook.apps[app].endpoint is not None
    return timings.points + timings.launch + (timings.identity if moves else 0.0)
