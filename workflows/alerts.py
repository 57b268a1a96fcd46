"""Raising alerts, run on the workers' shared queue: a runbook's `on_alert` hooks, and a pair's `on_alert` command.

An alert fires when nobody is watching (a scheduled drill failed, the protect monitor found a fault or a lost
site), so it runs where any worker can take it, not at a site that may be the one in trouble; a notifier that
fails does not stop the next one, nor the monitor. A pair's command gets its facts in STANDBY_* variables:
RUNBOOK, PAIR, EVENT, SITE, APP, DETAIL.
"""

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from standby.contracts import names
    from standby.contracts.commands import CommandResult, StepCommand
    from standby.runbook import CommandHook, Operation, Runbook
    from workflows import policies

# A pair's alert command is a notification: a short timeout, a few tries, never blocking the monitor for long.
ALERT_TIMEOUT = timedelta(seconds=30)
ALERT_TRIES = 2


async def raise_alert(runbook: Runbook, operation: Operation, alert: str, about: str) -> list[str]:
    """Run the runbook's on_alert hooks for `operation` with the alert's facts; what each one did."""
    context = {"runbook": runbook.runbook, "operation": operation, "alert": alert, "workflow": about}
    hooks = [h for h in runbook.hooks if isinstance(h, CommandHook) and h.point == "on_alert"
             and operation in h.operations]
    return [await _notify(hook, context) for hook in hooks]


async def _notify(hook: CommandHook, context: dict[str, str]) -> str:
    command = StepCommand(argv=list(hook.run), env=dict(hook.env), context=context,
                          timeout_seconds=hook.timeout.total_seconds(), label=hook.at)
    try:
        result = await _run(command, f"alert: {hook.describe()}", hook.timeout, hook.retries)
    except ActivityError as error:
        return f"{hook.describe()}: failed ({_cause(error)})"
    return f"{hook.describe()}: exit {result.exit_code}"


async def _run(command: StepCommand, summary: str, timeout: timedelta, retries: int) -> CommandResult:
    result: CommandResult = await workflow.execute_activity(
        names.RUN_STEP, command, result_type=CommandResult, summary=summary,
        **policies.hook_options(timeout, retries))
    return result


def _cause(error: ActivityError) -> str:
    cause = error.cause
    return cause.message if isinstance(cause, ApplicationError) else str(cause or error)


class Alerts:
    """Raises the protect monitor's alerts for one runbook: on its record, and through the pair's on_alert."""

    def __init__(self, runbook: Callable[[], Runbook], event: Callable[[str], None]):
        self._runbook, self._event = runbook, event

    async def raise_alert(self, pair: str, kind: str, site: str, detail: str, app: str = "") -> None:
        """Record the alert; run the pair's on_alert command, if it has one, with the facts in its environment."""
        self._event(f"ALERT {kind} at {site}: {detail}")
        runbook = self._runbook()
        command = runbook.pairs[pair].on_alert
        if command is None:
            return
        context = {"runbook": runbook.runbook, "pair": pair, "event": kind, "site": site, "app": app,
                   "detail": detail}
        step = StepCommand(argv=list(command), context=context, timeout_seconds=ALERT_TIMEOUT.total_seconds(),
                           label=f"on_alert {kind}")
        try:
            await _run(step, f"on_alert {kind} at {site}", ALERT_TIMEOUT, ALERT_TRIES - 1)
        except ActivityError as error:
            self._event(f"on_alert {kind} failed: {_cause(error)}")
