"""The workflow a drill schedule starts: ask the runbook's owner for a drill, wait for it, alert if it fails.

A Temporal Schedule can only start a workflow, and only the owner starts operations, so this one asks the
owner through an activity (Update-with-Start, like `standby drill`) and waits for the drill in another. The
drill is an operation like any other: its result is the owner's last drill and counts for `tested_within`.
"""

from datetime import timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from standby.contracts import names
    from standby.contracts.programme import (
        DrillAsk,
        DrillAsked,
        DrillOutcome,
        ScheduledDrillInput,
        ScheduledDrillResult,
    )
    from workflows import policies
    from workflows.alerts import raise_alert

# Asking the owner is one update; retried like a provider call while the server or the owner's worker is busy.
ASK_TIMEOUT = timedelta(minutes=1)
# A drill keeps its targets for its keep_for and may wait on launches; the wait heartbeats, so a day only bounds it.
DRILL_WAIT = timedelta(days=1)


@workflow.defn(name="ScheduledDrill")
class ScheduledDrillWorkflow:
    """One scheduled drill of a runbook; fails (after raising the runbook's alert) unless the drill passed."""

    @workflow.run
    async def run(self, inp: ScheduledDrillInput) -> ScheduledDrillResult:
        """Ask for the drill, wait for its end; alert and fail when it was refused or did not pass."""
        ask = DrillAsk(runbook=inp.runbook, only=inp.only, keep_for=inp.keep_for,
                       requested_by=f"schedule {workflow.info().workflow_id}")
        asked: DrillAsked = await workflow.execute_activity(
            names.REQUEST_DRILL, ask, result_type=DrillAsked, summary=f"ask the owner of {inp.runbook} for a drill",
            start_to_close_timeout=ASK_TIMEOUT, retry_policy=policies.PROVIDER)
        if asked.workflow_id is None:
            await self._alert(asked, f"scheduled drill of {inp.runbook} was refused: {asked.refused}")
        outcome: DrillOutcome = await workflow.execute_activity(
            names.AWAIT_DRILL, asked, result_type=DrillOutcome, summary=f"wait for {asked.workflow_id}",
            start_to_close_timeout=DRILL_WAIT, heartbeat_timeout=policies.HEARTBEAT)
        if not outcome.passed:
            await self._alert(asked, f"scheduled drill of {inp.runbook} {outcome.state}: {outcome.reason}")
        return ScheduledDrillResult(runbook=inp.runbook, drill=outcome.workflow_id, state=outcome.state)

    async def _alert(self, asked: DrillAsked, alert: str) -> NoReturn:
        notified = await raise_alert(asked.runbook, "drill", alert, asked.workflow_id or workflow.info().workflow_id)
        told = "; ".join(notified) if notified else "no on_alert hook in the runbook"
        raise ApplicationError(f"{alert} (alerts: {told})", type="DrillFailed", non_retryable=True)
