"""Raising a runbook's alert: every `on_alert` command hook for the operation, run on the workers' shared queue.

An alert fires when nobody is watching (a scheduled drill failed), so it runs where any worker can take it,
not at a site that may be the one in trouble; a notifier that fails does not stop the next one.
"""

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from standby.contracts import names
    from standby.contracts.commands import CommandResult, StepCommand
    from standby.runbook import CommandHook, Operation, Runbook
    from workflows import policies


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
        result = await workflow.execute_activity(
            names.RUN_STEP, command, result_type=CommandResult, summary=f"alert: {hook.describe()}",
            **policies.hook_options(hook.timeout, hook.retries),
        )
    except ActivityError as error:
        cause = error.cause
        return f"{hook.describe()}: failed ({cause.message if isinstance(cause, ApplicationError) else error})"
    return f"{hook.describe()}: exit {result.exit_code}"
