"""Commands on runbook files, no Temporal needed: validate, plan, schema."""

import json
import sys
from pathlib import Path

import click

from standby import loader, plan_text
from standby.cli.output import err, fail, load_or_exit, out
from standby.issues import Issue, errors, exit_code
from standby.plan import PlanError, build, left_behind
from standby.runbook import OPERATIONS, Runbook


@click.command()
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


def _summary(issues: list[Issue], strict: bool) -> str:
    failing = len(errors(issues))
    warnings = len(issues) - failing
    if not warnings:
        return f"{failing} issue(s) found"
    if not failing:
        return f"{warnings} warning(s)" + ("" if strict else "; --strict makes warnings fail")
    return f"{len(issues)} issue(s) found: {failing} error(s), {warnings} warning(s)"


@click.command()
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
        fail(f"cannot plan: {error}")
    if as_json:
        out.print(result.model_dump_json(indent=2), markup=False)
    else:
        out.print("\n".join(plan_text.lines(result, runbook)), markup=False)
    _warn_left_behind(runbook, list(only))


def _warn_left_behind(runbook: Runbook, only: list[str]) -> None:
    """`--only` that leaves behind apps the chosen ones depend on: say which, and how to take them along."""
    behind = left_behind(runbook, only) if only else {}
    for app, missing in behind.items():
        err.print(f"warning: {app} depends on {', '.join(missing)}, which --only leaves where they are; "
                  f"add {' '.join(f'--only {m}' for m in missing)} to move them together", markup=False)


@click.command()
def schema() -> None:
    """Print the runbook JSON Schema (committed as runbooks/runbook.schema.json)."""
    from standby.schema import runbook_schema

    click.echo(json.dumps(runbook_schema(), indent=2))


COMMANDS = (validate, plan, schema)
