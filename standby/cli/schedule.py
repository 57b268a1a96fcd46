"""`standby schedule`: drills on a Temporal Schedule, one per runbook; list, pause, resume, delete."""

import getpass
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import quote

import click
from rich.table import Table
from temporalio.client import Client

from standby import client as temporal
from standby import schedules
from standby.cli.output import USAGE, fail, load_or_exit, out, run_async
from standby.config import Settings
from standby.contracts.programme import ScheduledDrillInput
from standby.durations import parse_duration
from standby.plan import PlanError, select


def runbook_name(text: str) -> str:
    """A runbook's name from its name, or from its file (`runbooks/shop.yaml`, validated)."""
    return load_or_exit(text).runbook if text.endswith((".yaml", ".yml")) else text


def _duration(text: str | None, option: str) -> timedelta | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint=option) from None


@click.group()
def schedule() -> None:
    """Drills on a schedule (Temporal Schedules; the Temporal UI lists them on its Schedules page)."""


@schedule.command("drill")
@click.argument("runbook")
@click.option("--every", required=True, help="interval between drills, e.g. 7d, 1d, 12h")
@click.option("--at", "at", help="time of day in UTC, HH:MM (with --every in whole days)")
@click.option("--only", multiple=True, help="drill only this app (repeat for several)")
@click.option("--keep-for", help="keep the test targets this long (default: the runbook's drill.keep_for)")
@run_async
async def drill(runbook: str, every: str, at: str | None, only: tuple[str, ...], keep_for: str | None) -> None:
    """Drill a protected runbook (by name or file) on a schedule; replaces the runbook's schedule if it has one."""
    name, settings = runbook_name(runbook), Settings.from_env()
    interval = _duration(every, "--every")
    assert interval is not None
    try:
        offset = schedules.parse_at(at) if at else None
        schedules.spec(interval, offset)
    except schedules.ScheduleError as error:
        fail(str(error), USAGE)
    client = await temporal.connect(settings)
    held = await temporal.owner_runbook(client, name)
    try:
        apps = select(held, list(only)) if only else []
    except PlanError as error:
        fail(str(error), USAGE)
    inp = ScheduledDrillInput(runbook=name, only=apps, keep_for=_duration(keep_for, "--keep-for"))
    done = await schedules.upsert(client, settings, inp, interval, offset)
    ident = schedules.schedule_id(name)
    when = f"every {every}" + (f" at {at} UTC" if at else "")
    out.print(f"drill schedule {ident} {done}: {when}" + (f", only {', '.join(apps)}" if apps else "")
              + f"\n  {settings.ui_url}/namespaces/{settings.namespace}/schedules/{quote(ident, safe='')}",
              markup=False)


@schedule.command("list")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@run_async
async def list_(as_json: bool) -> None:
    """Every drill schedule: interval, scope, paused or not, next runs, the last run."""
    rows = await schedules.rows(await temporal.connect(Settings.from_env()))
    if as_json:
        click.echo("[" + ",\n".join(row.model_dump_json() for row in rows) + "]")
        return
    table = Table("schedule", "every", "only", "state", "next run", "runs", "skipped (overlap)", "last run")
    for row in rows:
        table.add_row(row.id, row.every + (f" at {row.at} UTC" if row.at else ""), ", ".join(row.only) or "all",
                      "paused" if row.paused else "active",
                      row.next_runs[0].strftime("%Y-%m-%d %H:%M:%S UTC") if row.next_runs else "—", str(row.runs),
                      str(row.skipped_overlapping), row.last_run or "—")
    out.print(table)


async def _change(call: Callable[[Client, str], Awaitable[str]], runbook: str) -> None:
    client = await temporal.connect(Settings.from_env())
    try:
        out.print(await call(client, runbook_name(runbook)), markup=False)
    except schedules.ScheduleError as error:
        fail(str(error))


@schedule.command()
@click.argument("runbook")
@run_async
async def pause(runbook: str) -> None:
    """Pause a runbook's drill schedule: no drill starts until it is resumed."""
    await _change(lambda client, name: schedules.pause(client, name, getpass.getuser()), runbook)


@schedule.command()
@click.argument("runbook")
@run_async
async def resume(runbook: str) -> None:
    """Resume a paused drill schedule."""
    await _change(lambda client, name: schedules.resume(client, name, getpass.getuser()), runbook)


@schedule.command()
@click.argument("runbook")
@run_async
async def delete(runbook: str) -> None:
    """Delete a runbook's drill schedule (a drill it started runs on)."""
    await _change(schedules.delete, runbook)


COMMANDS = (schedule,)
