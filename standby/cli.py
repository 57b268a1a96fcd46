"""The `standby` command: parse, call the library, print, exit 0 (ok), 1 (refused or invalid), 2 (usage)."""

import json
import os
import sys
from pathlib import Path

import click
from rich.console import Console

from standby import loader, plan_text, server
from standby.config import Settings
from standby.issues import RunbookError, errors, exit_code
from standby.plan import PlanError, build
from standby.runbook import OPERATIONS, Runbook

out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Standby: disaster-recovery runbooks as durable Temporal workflows."""


def load_or_exit(path: str) -> Runbook:
    """A valid runbook, or every issue printed and exit 1."""
    try:
        return loader.load(path)
    except RunbookError as error:
        err.print(str(error), markup=False)
        sys.exit(error.exit_code)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--strict", is_flag=True, help="warnings fail validation too (exit 1)")
def validate(files: tuple[str, ...], strict: bool) -> None:
    """Check runbooks; print every issue as FILE:LINE:COL: PATH: message.

    Exit 0: valid (perhaps with warnings); 1: errors, or warnings with --strict; 2: a file is not a runbook.
    """
    issues = []
    for file in files:
        runbook, found = loader.check(Path(file))
        issues.extend(found)
        if runbook is not None and not errors(found) and not (strict and found):
            out.print(f"{file}: ok (runbook {runbook.runbook}: {len(runbook.machines)} machines, "
                      f"{len(runbook.apps)} apps, {len(runbook.groups)} groups)", markup=False)
    if issues:
        # One print: a hostile file can hold tens of thousands of issues, and each print costs rich a lot.
        err.print("\n".join([*(str(issue) for issue in sorted(issues)), _summary(issues, strict)]), markup=False)
    code = exit_code(issues, strict)
    if code:
        sys.exit(code)


def _summary(issues: list, strict: bool) -> str:
    failing = len(errors(issues))
    warnings = len(issues) - failing
    if not warnings:
        return f"{failing} issue(s) found"
    if not failing:
        return f"{warnings} warning(s)" + ("" if strict else "; --strict makes warnings fail")
    return f"{len(issues)} issue(s) found: {failing} error(s), {warnings} warning(s)"


@main.command()
@click.argument("runbook_file", type=click.Path(dir_okay=False))
@click.option("--operation", "-o", type=click.Choice(OPERATIONS), default="failover", show_default=True)
@click.option("--only", multiple=True, help="only these apps (repeat the option)")
@click.option("--active", help="the site serving now (default: the protected source)")
@click.option("--json", "as_json", is_flag=True, help="print the plan as JSON")
def plan(runbook_file: str, operation: str, only: tuple[str, ...], active: str | None, as_json: bool) -> None:
    """Print the ordered steps an operation will run."""
    runbook = load_or_exit(runbook_file)
    try:
        result = build(runbook, operation, list(only) or None, active)  # type: ignore[arg-type]
    except PlanError as error:
        err.print(f"cannot plan: {error}", markup=False)
        sys.exit(1)
    if as_json:
        out.print(result.model_dump_json(indent=2), markup=False)
    else:
        out.print("\n".join(plan_text.lines(result)), markup=False)


@main.command()
def schema() -> None:
    """Print the runbook JSON Schema (committed as runbooks/runbook.schema.json)."""
    from standby.schema import runbook_schema

    click.echo(json.dumps(runbook_schema(), indent=2))


@main.command("server")
@click.option("--state", "state_dir", help="state folder (default $STANDBY_STATE or .standby)")
@click.option("--port", default=7233, show_default=True)
@click.option("--ui-port", default=8233, show_default=True)
def server_command(state_dir: str | None, port: int, ui_port: int) -> None:
    """Run the embedded Temporal dev server with Standby's search attributes, until Ctrl-C."""
    settings = Settings.from_env(state_dir)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    try:
        argv = server.command(settings.state_dir, port, ui_port)
    except server.ServerError as error:
        err.print(str(error), markup=False)
        sys.exit(1)
    err.print(f"Temporal dev server on localhost:{port}, UI http://localhost:{ui_port}, state in {settings.state_dir}",
              markup=False)
    os.execv(argv[0], argv)


def _register_operator_commands() -> None:
    """Operator, report and demo commands live in their own modules; importing them adds them to `main`."""
    import standby.cli_demo  # noqa: F401
    import standby.cli_doctor  # noqa: F401
    import standby.cli_ops  # noqa: F401
    import standby.cli_report  # noqa: F401


_register_operator_commands()
