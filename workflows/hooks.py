"""Running a hook step: each kind of hook (command, prompt, remediation action) with its own runner."""

from collections.abc import Awaitable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from standby import templates
    from standby.contracts import names
    from standby.contracts.commands import CommandResult, StepCommand
    from standby.contracts.sites import RemediationInput, RemediationResult, site_ref
    from standby.plan_steps import RunHook
    from standby.runbook import ActionHook, CommandHook, PromptHook, Runbook, action_kind
    from workflows import actions, policies
    from workflows.operator import Operator


async def run_hook(op: Operator, runbook: Runbook, step: RunHook, context: dict[str, str]) -> None:
    """A command, prompt or remediation step of the runbook, honouring its on_failure."""
    hook, where = step.hook, dict(group=step.group, app=step.app)
    if isinstance(hook, PromptHook):
        await op.prompt(_render(hook.at, hook.prompt, context), step.label(), **where)
    elif isinstance(hook, ActionHook):
        await _guarded(op, step, hook, _remediate(op, runbook, step, hook, context))
    else:
        await _guarded(op, step, hook, _command(op, step, hook, context))


def _render(at: str, text: str, context: dict[str, str]) -> str:
    """A prompt's text; a template that fails at run time fails its step once, never the workflow task."""
    try:
        # Rendering imports jinja2.runtime when it runs; in the sandbox that import must be the worker's module,
        # else jinja2 is imported afresh there and trips the sandbox (threading.Lock at import time).
        with workflow.unsafe.imports_passed_through():
            return templates.render(text, context)
    except templates.TemplateFailed as error:
        # Raised in workflow code, any other exception would fail the workflow task again and again.
        raise ApplicationError(f"hook {at} failed: {error}", type="TemplateFailed", non_retryable=True) from None


async def _command(op: Operator, step: RunHook, hook: CommandHook, context: dict[str, str]) -> None:
    command = StepCommand(argv=list(hook.run), env=dict(hook.env), context=context,
                          timeout_seconds=hook.timeout.total_seconds(), label=hook.at)
    async with op.step(step.label(), group=step.group, app=step.app) as record:
        result = await workflow.execute_activity(
            names.RUN_STEP, command, result_type=CommandResult, summary=step.label(),
            task_queue=actions.site_queue(context["target"]), **policies.hook_options(hook.timeout, hook.retries),
        )
        record.output = (result.stdout + result.stderr)[-4000:]


async def _remediate(op: Operator, runbook: Runbook, step: RunHook, hook: ActionHook,
                     context: dict[str, str]) -> None:
    target, kind = hook.action.target, action_kind(hook.action)
    site = target.site or context["target"]
    inp = RemediationInput(site=site_ref(runbook, site), vm=target.vm, host=getattr(target, "host", None),
                           datastore=getattr(target, "datastore", None))
    async with op.step(step.label(), group=step.group, app=step.app) as record:
        result = await workflow.execute_activity(
            names.REMEDIATE[kind], inp, result_type=RemediationResult, summary=step.label(),
            task_queue=actions.site_queue(site), retry_policy=policies.HOOK(hook.retries),
            start_to_close_timeout=hook.timeout,
            heartbeat_timeout=policies.PROVIDER_HEARTBEAT,
        )
        record.detail = result.outcome + (f" (host {result.host})" if result.host else "")


async def _guarded(op: Operator, step: RunHook, hook: CommandHook | ActionHook, work: Awaitable[None]) -> None:
    """Run the hook's work; a failure aborts, continues or asks the operator, as the hook says."""
    try:
        await work
    except ActivityError as error:
        reason = _cause(error)
        if hook.on_failure == "continue":
            return
        if hook.on_failure == "prompt":
            await op.prompt(f"hook {hook.at} failed ({reason}); continue the operation?", group=step.group,
                            app=step.app)
            return
        raise ApplicationError(f"hook {hook.at} failed: {reason}", type="HookFailed", non_retryable=True) from error


def _cause(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    # str() of an ApplicationError puts its type in front ("HookFailed: hook ..."); the message reads better.
    return error.message if isinstance(error, ApplicationError) else str(error)
