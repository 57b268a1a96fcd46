"""Command steps of a runbook: templates rendered and `from_env` values read on the worker, then run as argv."""

import os
import sys
from collections.abc import Callable, Mapping
from functools import partial
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.hooks import execute
from standby import templates
from standby.contracts import names
from standby.contracts.commands import NOT_STARTED, CommandInput, CommandResult, StepCommand
from standby.runbook import FromEnv

T = TypeVar("T")


def _resolve(step: StepCommand, name: str, source: FromEnv, environ: Mapping[str, str]) -> str:
    """A from_env value, or a non-retryable error saying which variable the worker lacks."""
    value = environ.get(source.from_env)
    if value is None:
        raise ApplicationError(
            f"hook {step.label or step.argv[0]}: env {name} is {{from_env: {source.from_env}}}, but {source.from_env} "
            "is not set in this worker's environment; set it where the worker starts", type=NOT_STARTED,
            non_retryable=True)
    return value


def render(step: StepCommand, environ: Mapping[str, str] = os.environ) -> tuple[CommandInput, set[str]]:
    """The concrete command (templates filled in, STANDBY_* variables set, from_env values read from the
    worker's environment) and the values read so, which the command's output must not show."""
    context = {**step.context, "python": sys.executable}
    env = {f"STANDBY_{key.upper()}": value for key, value in step.context.items()}
    secrets: set[str] = set()
    for key, value in step.env.items():
        if isinstance(value, FromEnv):
            env[key] = _resolve(step, key, value, environ)
            secrets.add(env[key])
        else:
            env[key] = _rendered(step, partial(templates.render, value, context))
    argv = _rendered(step, lambda: templates.render_argv(step.argv, context))
    command = CommandInput(argv=argv, env=env, timeout_seconds=step.timeout_seconds, label=step.label)
    return command, secrets


def _rendered(step: StepCommand, render: Callable[[], T]) -> T:
    """A template rendered; one that fails is the step's failure, once: another try renders it the same way."""
    try:
        return render()
    except templates.TemplateFailed as error:
        raise ApplicationError(f"hook {step.label}: {error}", type=NOT_STARTED, non_retryable=True) from None


@activity.defn(name=names.RUN_STEP)
async def run_step(step: StepCommand) -> CommandResult:
    """Render a command step and run it like any hook (timeout, heartbeats, output kept, secrets redacted)."""
    command, secrets = render(step)
    return await execute(command, secrets)
