"""`standby abort`: an operation's steps run in a task of their own, which a verified `abort` cancels from inside.

A Temporal cancel ends the workflow `cancelled` and no worker can veto it; an abort passes the `abort` gate
first (who, proven or not, on the record), then cancels only the steps, so the operation's `always` steps (a
drill's cleanup) still run and its result says `cancelled`.
"""

import asyncio
from collections.abc import Awaitable, Coroutine
from typing import Any

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from standby.contracts.gates import GateRecord, OperatorAction
    from workflows.operator import Operator


class Abortable(Operator):
    """Mixin of an operation workflow: the `abort` update, and the task it cancels."""

    _steps: asyncio.Task[None] | None = None
    _aborted: GateRecord | None = None

    async def _unless_aborted(self, steps: Coroutine[Any, Any, None], outcome: str) -> str:
        """Run `steps` in a task that `abort` cancels: `outcome` when they end, `cancelled` when aborted."""
        self._steps = asyncio.create_task(steps)
        try:
            await self._steps
        except BaseException as error:
            # A Temporal cancel of the workflow cancels this await too; then the workflow ends cancelled, as before.
            # Aborted, the steps end in a CancelledError, or a child's or an activity's error caused by one.
            if self._aborted is None or not is_cancelled_exception(error):
                raise
            return "cancelled"
        return outcome

    @workflow.update
    async def abort(self, action: OperatorAction) -> str:
        """Abort the operation once the worker verified who aborts: its steps are cancelled, its cleanup runs."""
        what = f"{self._progress.operation} of {self._progress.runbook}"
        record = await self._pass("abort", action.model_copy(update={"by": action.by or "operator"}),
                                  lambda: None if self._steps is not None and not self._steps.done() else
                                  f"{what} ended meanwhile")
        self._aborted = record
        assert self._steps is not None
        self._steps.cancel()
        return f"{record.describe()}: {what} stops, its cleanup runs"

    @abort.validator
    def _abort_allowed(self, action: OperatorAction) -> None:
        if self._steps is None or self._steps.done():
            raise ValueError(f"{self._progress.operation} of {self._progress.runbook} is not running its steps; "
                             "nothing to abort")


async def keeping_cancel(signal: Awaitable[None]) -> None:
    """Await a signal to another workflow without losing a cancel (an abort, or a Temporal cancel) meanwhile.

    Once a signal is sent, the SDK lets the server decide it and swallows a cancel that arrives while it waits,
    so the steps would go on as if nothing was asked. The signal runs apart instead: it still arrives (the
    runbook's owner must hear every change), then the cancel is raised. Behind a patch: histories from before
    awaited the signal in the step itself.
    """
    if not workflow.patched("report-keeps-cancel"):
        await signal
        return
    sent = asyncio.ensure_future(signal)
    try:
        await asyncio.shield(sent)
    except asyncio.CancelledError:
        await sent
        raise
