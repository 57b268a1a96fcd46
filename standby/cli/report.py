"""`standby report`: one operation's report as HTML, Markdown or JSON, from its result or its live progress."""

import asyncio
from datetime import timedelta
from pathlib import Path

import click
from pydantic import ValidationError

from standby import client as temporal
from standby import report
from standby.cli.output import fail, load_or_exit, out
from standby.config import Settings
from standby.report_client import ReportError, build_report


@click.command("report")
@click.argument("ident", metavar="ID|RUNBOOK")
@click.option("--format", "fmt", type=click.Choice(report.FORMATS),
              help="html, md or json (default: from the suffix of -o, else html)")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write the report into this file")
@click.option("--runbook", "runbook_file", type=click.Path(dir_okay=False),
              help="the runbook: compare each app with its rto and rpo")
@click.option("--measurements", "measurements_file", type=click.Path(dir_okay=False),
              help="JSON of figures measured from outside (RTO from the disaster, writes lost)")
@click.option("--wait", default=15.0, show_default=True, type=click.FloatRange(min=0.1),
              help="seconds to wait for a worker to answer the progress of an operation that did not complete")
def report_command(ident: str, fmt: str | None, output: str | None, runbook_file: str | None,
                   measurements_file: str | None, wait: float) -> None:
    """Report an operation (`shop/failover`) or a runbook's latest (`shop`): timeline, RTO/RPO, hooks, approvals."""
    runbook = load_or_exit(runbook_file) if runbook_file else None
    try:
        measurements = _measurements(measurements_file)
        made = asyncio.run(build_report(ident, Settings.from_env(), runbook, measurements, timedelta(seconds=wait)))
    except (ReportError, temporal.Refused) as error:
        fail(f"cannot report: {error}")
    path = Path(output) if output else None
    chosen = fmt or report.format_of(path)
    if path is None:
        click.echo(report.render(made, chosen), nl=False)  # type: ignore[arg-type]
        return
    report.write(made, path, chosen)  # type: ignore[arg-type]
    out.print(str(path), markup=False)


def _measurements(path: str | None) -> report.Measurements | None:
    if path is None:
        return None
    try:
        return report.Measurements.model_validate_json(Path(path).read_text())
    except OSError as error:
        raise ReportError(f"cannot read measurements {path}: {error.strerror}") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise ReportError(f"{path}: {where}: {first['msg']}") from None


COMMANDS = (report_command,)
