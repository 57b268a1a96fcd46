"""Command steps of a runbook: templates rendered on the worker, then run as argv."""

import sys

from temporalio import activity

from activities.hooks import run_hook
from standby import templates
from standby.contracts import names
from standby.contracts.commands import CommandInput, CommandResult, StepCommand


def render(step: StepCommand) -> CommandInput:
    """The concrete command: templates filled in, STANDBY_* variables set."""
    context = {**step.context, "python": sys.executable}
    env = {f"STANDBY_{key.upper()}": value for key, value in step.context.items()}
    env.update({key: templates.render(value, context) for key, value in step.env.items()})
    return CommandInput(
        argv=templates.render_argv(step.argv, context), env=env, timeout_seconds=step.timeout_seconds, label=step.label
    )


@activity.defn(name=names.RUN_STEP)
async def run_step(step: StepCommand) -> CommandResult:
    """Render a command step and run it like any hook (timeout, heartbeats, output kept)."""
    return await run_hook(render(step))
