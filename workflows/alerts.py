"""Alerts of the protect monitor: recorded in its events, and the pair's `on_alert` command run with the facts.

The command runs on the workflows' own queue, the control plane's worker, since the site an alert is about may
be the one that is gone. Its facts are in STANDBY_* variables: RUNBOOK, PAIR, EVENT, SITE, APP, DETAIL.
"""

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from standby.contracts import names
    from standby.contracts.commands import CommandResult, StepCommand
    from standby.runbook import Runbook
    from workflows import policies

# An alert command is a notification: a short timeout, a few tries, never blocking the monitor for long.
ALERT_TIMEOUT = timedelta(seconds=30)
ALERT_TRIES = 2


class Alerts:
    """Raises alerts for the monitor of one runbook."""

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
            await workflow.execute_activity(names.RUN_STEP, step, result_type=CommandResult,
                                            summary=f"on_alert {kind} at {site}",
                                            **policies.hook_options(ALERT_TIMEOUT, ALERT_TRIES - 1))
        except ActivityError as error:
            self._event(f"on_alert {kind} failed: {error.cause or error}")
