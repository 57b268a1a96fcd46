"""Operator interaction shared by every operation workflow: progress, approvals, prompts, the timeline.

Temporal-native: the `progress` query, the `approve` and `continue` updates (refused with a reason when
nothing waits for them), each verified at its gate (workflows.gates) and recorded whichever way it went.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from standby.access import Binding
    from standby.contracts.gates import GateRecord, OperatorAction
    from standby.contracts.operations import Approval, Progress, StepRecord
    from standby.runbook import AccessRule, Gate, Runbook
    from workflows import gates


class Operator:
    """Mixin of an operation workflow: what the operator sees and can answer."""

    _progress: Progress
    _approval: Approval | None = None
    _approved: GateRecord | None = None
    _continued: GateRecord | None = None
    _gatekeeper: gates.Gatekeeper
    # A workflow that never calls _guard (the Failback Client) has no prompt and no approval for these to open.
    _rules = gates.Rules("", AccessRule(), None)
    _requester = ""

    def _start_progress(self, runbook: str, operation: str) -> None:
        self._progress = Progress(runbook=runbook, operation=operation, state="running")
        self._gatekeeper = gates.Gatekeeper()

    def _guard(self, runbook: Runbook, requester: str = "") -> None:
        """The gates follow the runbook's rules for this operation; `requester` may not approve under four_eyes."""
        self._rules, self._requester = gates.Rules.of(runbook, self._progress.operation), requester
        self._progress.proof_needed = runbook.directory is not None

    @workflow.query
    def progress(self) -> Progress:
        """Live progress: state, current step, groups, apps, pending approval or prompt."""
        return self._progress

    @workflow.update
    async def approve(self, action: OperatorAction) -> str:
        """Approve the operation, once the worker verified who approves; recorded with who, when and from where."""
        record = await self._pass("approve", action, lambda: None if self._progress.awaiting_approval else
                                  f"{self._progress.operation} of {self._progress.runbook} was approved meanwhile")
        self._approval = Approval(by=record.by, comment=action.comment, at=record.at, verified=record.verified,
                                  client=record.client)
        self._approved = record
        self._progress.approvals.append(self._approval)
        self._progress.awaiting_approval = False
        return record.describe()

    @approve.validator
    def _approve_allowed(self, action: OperatorAction) -> None:
        if not self._progress.awaiting_approval:
            raise ValueError(f"{self._progress.operation} of {self._progress.runbook} is not waiting for an approval")
        if not action.by and not action.proof:
            raise ValueError("an approval names who approves")

    # A bare name is what `continue` took before it carried proofs: histories recorded then still replay.
    @workflow.update(name="continue")
    async def continue_prompt(self, action: OperatorAction | str) -> str:
        """Answer the pending prompt step, once the worker verified who answers."""
        action = OperatorAction(by=action) if isinstance(action, str) else action
        record = await self._pass("continue", action.model_copy(update={"by": action.by or "operator"}),
                                  lambda: None if self._progress.prompt is not None else
                                  f"{self._progress.operation} of {self._progress.runbook} was continued meanwhile")
        text, self._continued = self._progress.prompt, record
        self._progress.prompt = None
        return f"continued: {text}"

    @continue_prompt.validator
    def _continue_allowed(self, action: OperatorAction | str) -> None:
        if self._progress.prompt is None:
            raise ValueError(f"{self._progress.operation} of {self._progress.runbook} is not waiting at a prompt")

    async def _pass(self, gate: Gate, action: OperatorAction, closed: Callable[[], str | None]) -> GateRecord:
        """The allowed record of the action at `gate`, or the update fails with the reason; recorded either way.

        `closed` says why the gate shut while the worker verified the action (another operator passed it first).
        """
        info = workflow.info()
        binding = Binding(workflow_id=info.workflow_id, run_id=info.run_id, gate=gate)
        record = await self._gatekeeper.check(self._rules, binding, action.by, action.proof, self._requester)
        shut = closed() if record.allowed else None
        record = record.refused(shut) if shut else record
        self._record(record)
        if not record.allowed:
            raise gates.refusal(record)
        return record

    def _record(self, *records: GateRecord) -> None:
        """Records on the progress (and so the result) and in the memo; a refused one also on the timeline."""
        if not records:
            return
        for record in records:
            self._progress.gates.append(record)
            if not record.allowed:
                now = workflow.now()
                self._progress.steps.append(StepRecord(name=f"{record.gate} refused", started=now, ended=now,
                                                       status="refused", detail=record.describe(), gate=record))
        gates.memo(self._progress.gates)

    async def wait_for_approval(self, who: str, label: str) -> Approval:
        """Block until an operator approves (or the workflow is cancelled)."""
        self._progress.awaiting_approval, self._progress.approval_by = True, who
        async with self.step(label, detail=f"waiting for {who}") as record:
            await workflow.wait_condition(lambda: self._approval is not None)
            assert self._approval is not None and self._approved is not None
            comment = f": {self._approval.comment}" if self._approval.comment else ""
            record.gate, record.detail = self._approved, self._approved.describe() + comment
        return self._approval

    async def prompt(self, text: str, label: str = "", group: str | None = None, app: str | None = None) -> str:
        """A prompt step: show the text (in progress and in the memo) and wait for `standby continue`."""
        self._continued = None
        self._progress.prompt = text
        # Also a command, so a prompt reached in a workflow's first task never shares an activation with a
        # later `continue` when a new worker replays it: the SDK runs validators before the workflow's first step.
        workflow.upsert_memo({"prompt": text})
        async with self.step(label or f"prompt: {text}", group=group, app=app) as record:
            record.prompt = text
            await workflow.wait_condition(lambda: self._continued is not None)
            assert self._continued is not None
            record.gate, record.detail = self._continued, self._continued.describe()
        workflow.upsert_memo({"prompt": None})
        return self._continued.by

    @asynccontextmanager
    async def step(self, name: str, detail: str = "", group: str | None = None,
                   app: str | None = None) -> AsyncIterator[StepRecord]:
        """Record a step on the timeline with its start, end and outcome."""
        record = self.begin(name, detail, group, app)
        try:
            yield record
        except GeneratorExit:
            # The workflow is gone from this worker and Python collects its coroutine, outside any workflow's loop
            # (and at any allocation, so in the middle of unrelated code): nothing is left to record.
            raise
        except BaseException as error:
            self.end(record, error)
            raise
        self.end(record)

    def begin(self, name: str, detail: str = "", group: str | None = None, app: str | None = None,
              now: datetime | None = None) -> StepRecord:
        """A step on the timeline, running from now: `step` without its context, for many steps at once (`now`:
        workflow.now(), which is the same all through an activation and costs ~8 us a call in the sandbox)."""
        record = StepRecord(name=name, started=now or workflow.now(), detail=detail, group=group, app=app)
        self._progress.steps.append(record)
        self._progress.current = name
        return record

    def end(self, record: StepRecord, error: BaseException | None = None, now: datetime | None = None) -> None:
        """A step begun ends now: done, or failed (cancelled) by `error` (`now` as for `begin`)."""
        if error is None:
            record.status = "done" if record.status == "running" else record.status
        else:
            record.status = "cancelled" if is_cancelled_exception(error) else "failed"
            record.detail = record.detail or _reason(error)
        record.ended = now or workflow.now()


def _reason(error: BaseException) -> str:
    """The innermost message of a chain of activity and child-workflow errors."""
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error) or type(error).__name__
