"""What `standby plan` prints is what runs: the steps in an operation's Temporal history are the plan's, in order.

Each operation runs on the local provider on the real dev server, then its history is read back: the interpreter
upserts `{"step": label}` into the workflow's memo as each top-level step starts, so the memo upserts list the
steps that ran. They must equal the labels of the plan `standby plan RUNBOOK --operation OP --active SITE --json`
printed (the CLI run in-process on the same runbook file, `--active` the site the runbook's owner says its apps
serve at, which for a failback is the DR site):
the plan's steps, then on a failure its `on_failure` steps, then its `always` steps. A step run that the plan
did not print, one left out, or another order fails.
"""

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from standby.cli import main
from standby.contracts.operations import Approval, Progress
from standby.converter import DATA_CONVERTER
from standby.plan import Plan
from standby.plan_steps import Approval as ApprovalStep
from standby.plan_steps import RunHook
from standby.plan_text import labels
from standby.runbook import PromptHook, Runbook
from tests.helpers import eventually_async
from tests.ops_helpers import (
    answer_prompt,
    finished,
    owner_status,
    request,
    runbook_variant,
    start_protect,
    stop_workflows,
)

# The lifecycle in its natural order.
LIFECYCLE = ["drill", "failover", "failback", "return", "switchover"]
FAILING_HOOK = {"at": "after", "run": ["{{ python }}", "-c", "raise SystemExit(3)"], "on_failure": "abort",
                "operations": ["drill"]}


def printed_plan(runbook_file: Path, operation: str, active: str) -> Plan:
    """The plan `standby plan --json` prints for the runbook file, the operation and the serving site."""
    result = CliRunner().invoke(main, ["plan", str(runbook_file), "--operation", operation, "--active", active,
                                       "--json"])
    assert result.exit_code == 0, result.output
    return Plan.model_validate_json(result.stdout)


async def steps_run(handle: WorkflowHandle) -> list[str]:
    """The labels the workflow upserted into its memo as `step`, in the order of its history."""
    converter, found = DATA_CONVERTER.payload_converter, []
    for event in (await handle.fetch_history()).events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            fields = event.workflow_properties_modified_event_attributes.upserted_memo.fields
            if "step" in fields:
                found.append(converter.from_payload(fields["step"], str))
    return found


class ProtectedShop:
    """A protected copy of the shop, its operations requested as an operator would, and everything started on it."""

    def __init__(self, client: Client, task_queue: str, runbook: Runbook, runbook_file: Path):
        self.client, self.task_queue, self.runbook, self.file = client, task_queue, runbook, runbook_file
        self.started: list[WorkflowHandle] = []

    async def plan(self, operation: str) -> Plan:
        """The printed plan of the operation, for the site the owner says the apps serve at now."""
        truth = (await owner_status(self.client, self.runbook)).truth
        serving = {state.serving for state in truth.apps.values()}
        assert len(serving) == 1 and None not in serving, f"the apps serve at {serving}"
        return printed_plan(self.file, operation, str(serving.pop()))

    async def start(self, operation: str, **options) -> WorkflowHandle:
        """Ask the runbook's owner for the operation; it runs as `standby/<runbook>/<operation>`."""
        handle = await request(self.client, self.runbook, self.task_queue, operation, requested_by="tester",
                               **options)
        self.started.append(handle)
        return handle

    async def approve(self, handle: WorkflowHandle) -> None:
        """Approve once the operation waits for an approval."""

        async def waiting() -> bool:
            current = await handle.query("progress", result_type=Progress)
            return current.awaiting_approval

        await eventually_async(waiting, 60, 0.1, f"{handle.id} waiting for an approval")
        await handle.execute_update("approve", Approval(by="tester"), result_type=str)


async def protected(client, task_queue, shop_file, hooks: list[dict] | None = None) -> ProtectedShop:
    """A shop variant (with extra hooks) in continuous data protection."""
    runbook = runbook_variant(shop_file, hooks=hooks)
    shop = ProtectedShop(client, task_queue, runbook, shop_file.with_name(f"{runbook.runbook}.yaml"))
    shop.started.append(await start_protect(client, runbook, task_queue))
    return shop


def has_step(plan: Plan, kind: type) -> bool:
    """Whether a top-level step of the plan is of this kind (a hook step: carries a hook of this kind)."""
    return any(isinstance(step, kind) or isinstance(getattr(step, "hook", None), kind) for step in plan.steps)


async def test_each_operation_runs_the_steps_its_plan_printed_in_order(client, task_queue, worker, shop_file):
    """drill -> failover -> failback -> return -> switchover: each history's steps are its plan's, then `always`."""
    shop = await protected(client, task_queue, shop_file)
    try:
        for operation in LIFECYCLE:
            plan = await shop.plan(operation)
            if operation == "failback":
                assert (plan.from_site, plan.to_site) == ("dr", "primary")
            # A drill keeps its targets a second, not the runbook's five minutes; its keep step still runs.
            keep = timedelta(seconds=1) if operation == "drill" else None
            handle = await shop.start(operation, keep_for=keep)
            if has_step(plan, ApprovalStep):
                await shop.approve(handle)
            if has_step(plan, PromptHook):
                await answer_prompt(client, handle)
            assert (await finished(handle, 90)).state == plan.outcome
            assert await steps_run(handle) == labels(plan) + [s.label() for s in plan.always], operation
    finally:
        await stop_workflows(*shop.started)


async def test_a_failed_drill_runs_its_steps_to_the_failure_then_on_failure_then_always(client, task_queue, worker,
                                                                                        shop_file):
    """A drill whose `after` hook fails: the plan's steps up to that hook, the failed record, the cleanup."""
    shop = await protected(client, task_queue, shop_file, hooks=[FAILING_HOOK])
    try:
        plan = await shop.plan("drill")
        handle = await shop.start("drill")
        with pytest.raises(WorkflowFailureError):
            await finished(handle)
        failing = next(i for i, step in enumerate(plan.steps) if isinstance(step, RunHook) and step.hook.at == "after")
        expected = (labels(plan)[: failing + 1] + [s.label() for s in plan.on_failure]
                    + [s.label() for s in plan.always])
        assert await steps_run(handle) == expected
    finally:
        await stop_workflows(*shop.started)
