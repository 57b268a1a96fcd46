"""The DR programme's evidence: `standby compliance` across runbooks, `standby points` of one runbook."""

from pathlib import Path

import click
from rich.table import Column, Table

from standby import client as temporal
from standby import compliance_client, points, report
from standby.cli.output import USAGE, fail, out, run_async
from standby.cli.schedule import runbook_name
from standby.config import Settings
from standby.report.chart import short_duration
from standby.report.compliance import ComplianceReport, Measure, RunbookCompliance


@click.command()
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="write HTML (or JSON, by the suffix) here")
@run_async
async def compliance(as_json: bool, output: str | None) -> None:
    """Every runbook's last drill, measured RTO and RPO, lag and point age now, against its objectives."""
    settings = Settings.from_env()
    path = Path(output) if output else None
    fmt = report.format_of(path)
    if path is not None and fmt == "md":
        fail(f"{path}: compliance is written as .html or .json", USAGE)
    found = await compliance_client.gather(await temporal.connect(settings), settings)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(report.render_compliance(found, fmt), encoding="utf-8")
        out.print(str(path), markup=False)
    elif as_json:
        click.echo(report.render_compliance(found, "json"), nl=False)
    else:
        _print(found)


def _print(found: ComplianceReport) -> None:
    # A runbook's name is what the reader types next: never cut, whatever the terminal's width.
    names = Column("runbook", no_wrap=True, min_width=max((len(rb.runbook) for rb in found.runbooks), default=7))
    table = Table(names, "last drill", "drill age", "RTO", "RPO", "lag now", "point age now", "verdict")
    for rb in found.runbooks:
        drill = rb.drill
        table.add_row(rb.runbook, (("passed" if drill.passed else "failed") + (" (forced)" if drill.forced else ""))
                      if drill else "never", _worst([drill.age] if drill else []), *_columns(rb),
                      "inside" if rb.compliant else f"{len(rb.outside)} outside")
    out.print(table)
    for rb in found.runbooks:
        for sentence in rb.outside:
            out.print(f"{rb.runbook}: {sentence}", markup=False)
    out.print(f"{found.compliant} of {len(found.runbooks)} runbooks inside every objective", markup=False)


def _columns(rb: RunbookCompliance) -> list[str]:
    operations = [e for e in (rb.last_drill, rb.last_failover) if e is not None]
    return [_worst([a.rto for e in operations for a in e.apps]), _worst([a.rpo for e in operations for a in e.apps]),
            _worst([m.lag for m in rb.machines]), _worst([m.point_age for m in rb.machines])]


def _worst(figures: list[Measure]) -> str:
    """The figure furthest past its objective, as `12s / 1m outside`."""
    measured = [f for f in figures if f.seconds is not None or f.inside is False]
    if not measured:
        return "—"
    worst = max(measured, key=lambda f: (f.inside is False, (f.seconds or 0) / (f.objective_seconds or 1)))
    objective = f" / {short_duration(worst.objective_seconds)}" if worst.objective_seconds else ""
    verdict = {True: " ok", False: " OUTSIDE", None: ""}[worst.inside]
    return f"{short_duration(worst.seconds) if worst.seconds is not None else 'none'}{objective}{verdict}"


@click.command("points")
@click.argument("runbook")
@click.option("--app", "apps", multiple=True, help="only this app's machines (repeat for several)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@run_async
async def points_command(runbook: str, apps: tuple[str, ...], as_json: bool) -> None:
    """A protected runbook's recovery points per machine, with the retention rule that keeps each."""
    settings = Settings.from_env()
    listed = await points.listing(await temporal.connect(settings), settings, runbook_name(runbook), list(apps))
    if as_json:
        click.echo(listed.model_dump_json(indent=2))
        return
    for machine in listed.machines:
        title = f"{machine.machine} ({machine.app}) at {machine.site}"
        table = Table("point (UTC)", "age", "id", "kept by", title=title)
        for point in reversed(machine.points):
            table.add_row(point.time.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3], short_duration(point.age_seconds), point.id,
                          points.rule_text(point.kept_by, listed.retention))
        out.print(table)
        if machine.error:
            out.print(f"{machine.machine}: {machine.error}", markup=False)
    out.print("fail over to one with `standby failover RUNBOOK_FILE --point TIME` (the newest at or before TIME)",
              markup=False)


COMMANDS = (compliance, points_command)
