"""Operator interaction shared by every operation workflow: progress, approvals, prompts, the timeline.

Temporal-native: the `progress` query, the `approve` and `continue` updates
(refused with a reason when nothing waits for them), and cancellation for abort.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from standby.contracts.operations import Approval, Progress, StepRecord


class Operator:
    """Mixin of an operation workflow: what the operator sees and can answer."""

    _progress: Progress
    _approval: Approval | None = None
    _continued_by: str | None = None

    def _start_progress(self, runbook: str, operation: str) -> None:
        self._progress = Progress(runbook=runbook, operation=operation, state="running")

    @workflow.query
    def progress(self) -> Progress:
        """Live progress: state, current step, groups, apps, pending approval or prompt."""
        return self._progress

    @workflow.update
    async def approve(self, approval: Approval) -> str:
        """Approve the operation; recorded with who and when."""
        approval.at = workflow.now()
        self._approval = approval
        self._progress.approvals.append(approval)
        self._progress.awaiting_approval = False
        return f"approved by {approval.by}"

    @approve.validator
    def _approve_allowed(self, approval: Approval) -> None:
        if not self._progress.awaiting_approval:
            raise ValueError(f"{self._progress.operation} of {self._progress.runbook} is not waiting for an approval")
        if not approval.by:
            raise ValueError("an approval names who approves")

    @workflow.update(name="continue")
    async def continue_prompt(self, by: str) -> str:
        """Answer the pending prompt step."""
        text, self._continued_by = self._progress.prompt, by or "operator"
        self._progress.prompt = None
        return f"continued: {text}"

    @continue_prompt.validator
    def _continue_allowed(self, by: str) -> None:
        if self._progress.prompt is None:
            raise ValueError(f"{self._progress.operation} of {self._progress.runbook} is not waiting at a prompt")

    async def wait_for_approval(self, who: str, label: str) -> Approval:
        """Block until an operator approves (or the workflow is cancelled)."""
        self._progress.awaiting_approval, self._progress.approval_by = True, who
        async with self.step(label, detail=f"waiting for {who}") as record:
            await workflow.wait_condition(lambda: self._approval is not None)
            assert self._approval is not None
            comment = f": {self._approval.comment}" if self._approval.comment else ""
            record.detail = f"approved by {self._approval.by}{comment}"
        return self._approval

    async def prompt(self, text: str, label: str = "", group: str | None = None, app: str | None = None) -> str:
        """A prompt step: show the text (in progress and in the memo) and wait for `standby continue`."""
        self._continued_by = None
        self._progress.prompt = text
        # Also a command, so a prompt reached in a workflow's first task never shares an activation with a
        # later `continue` when a new worker replays it: the SDK runs validators before the workflow's first step.
        workflow.upsert_memo({"prompt": text})
        async with self.step(label or f"prompt: {text}", group=group, app=app) as record:
            record.prompt = text
            await workflow.wait_condition(lambda: self._continued_by is not None)
            record.detail = f"continued by {self._continued_by}"
        workflow.upsert_memo({"prompt": None})
        return self._continued_by or ""

    @asynccontextmanager
    async def step(self, name: str, detail: str = "", group: str | None = None,
                   app: str | None = None) -> AsyncIterator[StepRecord]:
        """Record a step on the timeline with its start, end and outcome."""
        record = StepRecord(name=name, started=workflow.now(), detail=detail, group=group, app=app)
        self._progress.steps.append(record)
        self._progress.current = name
        try:
            yield record
            record.status = "done" if record.status == "running" else record.status
        except BaseException as error:
            record.status = "cancelled" if is_cancelled_exception(error) else "failed"
            record.detail = record.detail or _reason(error)
            raise
        finally:
            record.ended = workflow.now()


def _reason(error: BaseException) -> str:
    """The innermost message of a chain of activity and child-workflow errors."""
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error) or type(error).__name__
