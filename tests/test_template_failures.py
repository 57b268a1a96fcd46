"""A template that fails when its step runs fails that step once, with the reason, never a workflow task.

Validation refuses every template below; these runbooks are built from dicts to reach a worker anyway
(an input written by hand, a runbook validated by an older Standby), as the run-time net must hold.
"""

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from tests.helpers import eventually_async

with workflow.unsafe.imports_passed_through():
    from activities.commands import render
    from activities.sites.base import PermanentProviderError
    from activities.sites.local.provider import LocalSiteProvider
    from standby.contracts.commands import NOT_STARTED, StepCommand
    from standby.contracts.sites import AppInput, app_ref, site_ref
    from standby.plan_steps import RunHook
    from standby.runbook import Runbook
    from workflows import hooks
    from workflows.operator import Operator

CONTEXT = {"runbook": "bad", "operation": "drill", "mode": "test", "site": "primary", "target": "dr", "group": "g",
           "app": "", "recovery_point": ""}


def runbook(hooks: list[dict] | None = None, start: list[str] | None = None) -> Runbook:
    """A small local runbook whose templates validation would refuse."""
    return Runbook.model_validate({
        "runbook": "bad", "sites": {"primary": {"provider": "local", "port_base": 18000},
                                    "dr": {"provider": "local", "port_base": 18100}},
        "protection": {"source": "primary", "target": "dr"}, "machines": {"m1": {}},
        "apps": {"web": {"machines": ["m1"], "start": start or ["true"]}}, "groups": [{"name": "g", "apps": ["web"]}],
        "hooks": hooks or [],
    })


@workflow.defn
class PromptHookWorkflow(Operator):
    """Test-only: runs the runbook's first hook as an operation does."""

    @workflow.run
    async def run(self, book: Runbook) -> str:
        self._start_progress(book.runbook, "drill")
        await hooks.run_hook(self, book, RunHook(hook=book.hooks[0]), dict(CONTEXT))
        return "finished"


async def test_a_prompt_template_renders_in_the_workflow_sandbox(client: Client, task_queue: str) -> None:
    book = runbook([{"at": "before", "prompt": "confirm the array at {{ target | upper }} is promoted"}])
    async with Worker(client, task_queue=task_queue, workflows=[PromptHookWorkflow], activities=[]):
        handle = await client.start_workflow(PromptHookWorkflow.run, book, id=f"prompt-{uuid.uuid4()}",
                                             task_queue=task_queue)

        async def shown() -> str | None:
            return (await handle.query(PromptHookWorkflow.progress)).prompt

        assert await eventually_async(shown, 20) == "confirm the array at DR is promoted"
        await handle.terminate()


async def run_prompt(client: Client, task_queue: str, book: Runbook) -> str:
    async with Worker(client, task_queue=task_queue, workflows=[PromptHookWorkflow], activities=[]):
        return await asyncio.wait_for(client.execute_workflow(
            PromptHookWorkflow.run, book, id=f"prompt-{uuid.uuid4()}", task_queue=task_queue), timeout=30)


async def test_a_prompt_template_that_fails_fails_its_step(client: Client, task_queue: str) -> None:
    book = runbook([{"at": "before", "prompt": "run {{ python }}"}])
    with pytest.raises(WorkflowFailureError) as caught:
        await run_prompt(client, task_queue, book)
    error = caught.value.cause
    assert isinstance(error, ApplicationError) and error.non_retryable
    assert error.message == "hook before failed: template 'run {{ python }}' failed: 'python' is undefined"


async def test_a_prompt_that_leaves_the_sandbox_fails_its_step(client: Client, task_queue: str) -> None:
    book = runbook([{"at": "before", "prompt": "{{ ''.__class__.__mro__ }}"}])
    with pytest.raises(WorkflowFailureError) as caught:
        await run_prompt(client, task_queue, book)
    assert str(caught.value.cause).endswith("access to attribute '__class__' of 'str' object is unsafe.")


def test_a_command_template_that_fails_is_not_retried() -> None:
    step = StepCommand(argv=["./warm.sh", "{{ group | uper }}"], context={"group": "g"}, label="before")
    with pytest.raises(ApplicationError) as caught:
        render(step)
    assert caught.value.non_retryable and caught.value.type == NOT_STARTED
    assert caught.value.message == "hook before: template '{{ group | uper }}' failed: No filter named 'uper'."


async def test_a_start_template_that_fails_is_a_permanent_launch_error(state_dir: Path) -> None:
    book = runbook(start=["./web", "{{ endpoints.nosuch }}"])
    provider = LocalSiteProvider(site_ref(book, "primary"), state_dir)
    with pytest.raises(PermanentProviderError) as caught:
        await provider.start_app(AppInput(site=site_ref(book, "primary"), app=app_ref(book, "web")))
    assert ("cannot start web/m1: template '{{ endpoints.nosuch }}' failed: 'dict object' has no attribute "
            "'nosuch' [") in str(caught.value)
