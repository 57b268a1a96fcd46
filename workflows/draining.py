"""The interpreter's replication steps after a stop: the drain, and the direction set (or paused) after it; a drain
followed by the direction of the same two sites runs as one activity at the target, a round trip less."""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from standby.contracts.drain import Drained
    from standby.contracts.operations import StepRecord
    from standby.contracts.sites import MachineReplication
    from standby.contracts.state import AppChange
    from standby.plan import Plan
    from standby.plan_steps import Drain, SetDirection, Step
    from standby.runbook import Runbook
    from workflows import actions
    from workflows.operator import Operator

# The owner hears of a new direction while the next step runs (StopSteps._report_later), not before it starts.
DIRECTION_REPORTED_LATER = "direction-reported-later"
# A drain and the direction right after it, between the same sites, in one activity.
DRAIN_THEN_DIRECTION = "drain-then-direction"


class DrainSteps(Operator):
    """Mixin of the plan's interpreter: its drain and direction steps."""

    _runbook: Runbook
    _plan: Plan
    _stopped_any: bool
    _report: Callable[..., Coroutine[Any, Any, None]]
    _report_later: Callable[[Coroutine[Any, Any, None]], None]

    def _drain_skipped(self, step: Drain) -> bool:
        return step.if_stopped and not self._stopped_any

    async def _drain(self, step: Drain) -> None:
        async with self.step(step.label()) as record:
            if self._drain_skipped(step):
                record.status, record.detail = "skipped", "nothing was running at the source"
                return
            _drained(record, await actions.drain(self._runbook, step.source, step.target, step.apps, step.label()))

    async def _set_direction(self, step: SetDirection) -> None:
        async with self.step(step.label()) as record:
            record.detail = await actions.set_direction(self._runbook, step.source, step.target, step.running,
                                                        step.apps, step.label()) or record.detail
            if workflow.patched(DIRECTION_REPORTED_LATER):
                self._report_later(self._direction_report(step))
            else:
                await self._direction_report(step)

    def _direction_report(self, step: SetDirection) -> Coroutine[Any, Any, None]:
        return self._report(AppChange(apps=step.apps, source=step.source, target=step.target,
                                      replicating=step.running, phase=step.phase,
                                      interrupted_by=self._plan.operation if step.phase == "interrupted" else None))

    def _fuses(self, step: Step, following: Step | None) -> bool:
        """Whether a drain that will run and the direction after it go in one activity."""
        return (isinstance(step, Drain) and isinstance(following, SetDirection)
                and (following.source, following.target) == (step.source, step.target)
                and not self._drain_skipped(step) and workflow.patched(DRAIN_THEN_DIRECTION))

    async def _drain_then_direction(self, drain: Drain, direction: SetDirection) -> None:
        """Both steps on the timeline, from one activity's answer. An abort meanwhile waits for that answer: the
        target may be pausing replication right then, and the owner must hear of it."""
        label = f"{drain.label()}, then {direction.label()}"
        # As `_run_step` does for each step: the history lists the plan's steps in order.
        for step in (drain, direction):
            workflow.upsert_memo({"step": step.label()})
        records = [self.begin(drain.label()), self.begin(direction.label())]
        activity = asyncio.ensure_future(actions.drain_then_set_direction(
            self._runbook, drain.source, drain.target, drain.apps, direction.running, direction.apps, label))
        try:
            try:
                done = await asyncio.shield(activity)
            except asyncio.CancelledError:
                self._directed(records, await activity)
                await self._direction_report(direction)
                raise
        except GeneratorExit:
            # Evicted from this worker, the coroutine is collected outside the workflow's loop: nothing to record.
            raise
        except BaseException as error:
            for record in records:
                if record.ended is None:
                    self.end(record, error)
            raise
        self._directed(records, done)
        self._report_later(self._direction_report(direction))

    def _directed(self, records: list[StepRecord], done: Drained) -> None:
        drained, directed = records
        _drained(drained, done.behind)
        directed.detail = done.direction or directed.detail
        self.end(drained)
        self.end(directed)


def _drained(record: StepRecord, states: list[MachineReplication]) -> None:
    behind = actions.not_continuous(states)
    record.detail = f"{len(behind)} not continuous: " + "; ".join(behind[:20]) if behind else "every machine continuous"
