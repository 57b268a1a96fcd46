"""The demo: the whole DR lifecycle of the sample shop on the embedded default, measured.

Server, worker, the shop and its replication all run on this host. A real
disaster (the primary site's processes killed with SIGKILL) is followed by a
real failover; RTO and RPO come from what a client of the shop observed.
"""

import asyncio
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table
from temporalio.client import Client

from standby import client as temporal
from standby import demo_site, report, traffic
from standby.config import Settings
from standby.contracts.local_layout import Layout
from standby.contracts.operations import OperationResult
from standby.contracts.operations import Progress as OperationProgress
from standby.contracts.protect import OwnerStatus
from standby.contracts.sites import public_ports
from standby.contracts.state import OperationRequest, ProtectRequest
from standby.report_client import build_report
from standby.runbook import Runbook

# The demo drives the sample shop: writes go in through web, reads come out of api, db holds the data.
WRITE_APP, READ_APP, DATA_APP = "web", "api", "db"


class DemoFailed(RuntimeError):
    """An operation of the demo did not succeed."""


@dataclass
class DemoSummary:
    """What the demo measured, written as JSON beside the reports."""

    runbook: str
    rto_seconds: dict[str, float] = field(default_factory=dict)
    rpo_writes_lost: int = 0
    rpo_point_age_seconds: dict[str, float] = field(default_factory=dict)
    writes_acknowledged: int = 0
    writes_served: int = 0
    data_check_passed: bool = False
    data_check_detail: str = ""
    failback_writes_lost: int = 0
    operations: dict[str, str] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


class Demo:
    """One run of the demo against a client, a worker per site, and the shop runbook."""

    def __init__(self, client: Client, settings: Settings, runbook: Runbook, console: Console, errors: Console,
                 workers: dict[str, demo_site.SiteWorker]):
        self.client, self.settings, self.runbook, self.console, self.errors = client, settings, runbook, console, errors
        self.workers = workers
        self.layout = Layout(settings.state_dir, runbook.runbook)
        self.ports = public_ports(runbook)
        self.summary = DemoSummary(runbook=runbook.runbook)

    def say(self, text: str) -> None:
        """Announce a step."""
        self.console.print(f"\n[bold cyan]==>[/] {text}")

    async def run(self) -> DemoSummary:
        """Protect, drill, traffic, disaster, failover, failback, return to normal."""
        started = time.monotonic()
        await self.protect()
        await self.operation("drill", keep_for=0)
        writer = traffic.Writer(f"http://127.0.0.1:{self.ports[WRITE_APP]}")
        self.say(f"live traffic: orders written through the public endpoint 127.0.0.1:{self.ports[WRITE_APP]}")
        writer.start()
        await asyncio.sleep(3)
        watch = await self.disaster(writer)
        failover = await self.operation("failover")
        served = await self.measure_failover(writer, watch, failover)
        already = len(writer.acknowledged)
        writer.start()
        await asyncio.sleep(2)
        writer.stop()
        source = self.runbook.protection.source
        self.say(f"site {source} is rebuilt: its worker starts again, on empty disks that failback fills")
        self.workers[source].start()
        await self.operation("failback")
        await self.check_failback(served + writer.acknowledged[already:])
        await self.operation("return")
        self.summary.seconds = round(time.monotonic() - started, 1)
        return self.summary

    async def protect(self) -> None:
        """Start protection and show replication reaching continuous data protection."""
        await temporal.protect(self.client, self.settings, ProtectRequest(runbook=self.runbook, requested_by="demo"))
        owner = temporal.owner_id(self.runbook.runbook)
        self.say(f"protect {self.runbook.runbook}: start the shop at {self.runbook.protection.source} and replicate "
                 f"to {self.runbook.protection.target}\n    {self.settings.workflow_url(owner)}")
        handle = self.client.get_workflow_handle(owner)
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      console=self.console, transient=False) as bar:
            task = bar.add_task("machines in continuous data protection", total=len(self.runbook.machines))
            while True:
                status = await handle.query("status", result_type=OwnerStatus)
                done = sum(m.phase == "continuous" for m in status.machines)
                bar.update(task, completed=done)
                if status.machines and done == len(status.machines):
                    return
                await asyncio.sleep(0.3)

    async def operation(self, name: str, keep_for: float | None = None) -> OperationResult:
        """Start an operation, answer its prompts as the operator would, follow it to the end."""
        request = OperationRequest(operation=name, runbook=self.runbook, yes=True, requested_by="demo",
                                   keep_for=timedelta(seconds=keep_for) if keep_for is not None else None)
        started = await temporal.start(self.client, self.settings, request)
        self.say(f"{name}\n    {started.url}")
        answering = asyncio.create_task(self.answer_prompts(started.workflow_id))
        code = await temporal.follow(self.client, started.workflow_id, self.console, self.errors)
        answering.cancel()
        if code != 0:
            raise DemoFailed(f"{name} failed; see {started.url}")
        handle = self.client.get_workflow_handle(started.workflow_id, result_type=OperationResult)
        result: OperationResult = await handle.result()
        self.summary.operations[name] = started.workflow_id
        if name != "failover":
            await self.write_report(name)
        return result

    async def write_report(self, name: str, measurements: report.Measurements | None = None) -> None:
        """The operation's HTML report in the state folder's reports/."""
        made = await build_report(self.summary.operations[name], self.settings, self.runbook, measurements)
        path = self.settings.state_dir / "reports" / f"{self.runbook.runbook}-{name}.html"
        report.write(made, path, "html")
        self.summary.reports[name] = str(path)
        self.console.print(f"    report: {path}")

    async def answer_prompts(self, ident: str) -> None:
        """The demo plays the operator: it answers each prompt step after showing it."""
        handle = self.client.get_workflow_handle(ident)
        while True:
            await asyncio.sleep(0.3)
            try:
                progress = await handle.query("progress", result_type=OperationProgress)
                target = handle if progress.prompt else (
                    self.client.get_workflow_handle(progress.child) if progress.child else None)
                if target is not None:
                    child = await target.query("progress", result_type=OperationProgress)
                    if child.prompt:
                        self.console.print(f"    (the demo answers the prompt \"{child.prompt}\" for you)")
                        await target.execute_update("continue", "demo", result_type=str)
            except Exception:  # a prompt answered twice or a child that just ended: look again
                continue

    async def disaster(self, writer: traffic.Writer) -> traffic.HealthWatch:
        """The whole primary site lost: its worker and every process killed (SIGKILL), its disks gone.

        Replication then stalls as a site loss stalls it, so the writes lost are what such a loss costs.
        From now on the clock of RTO runs.
        """
        source = self.runbook.protection.source
        self.say(f"disaster: site {source} is lost: its worker and every process killed (SIGKILL), its disks gone")
        self.disaster_time = time.time()
        self.workers[source].kill()
        demo_site.kill_site(self.layout, source)
        demo_site.lose_disks(self.layout, source)
        writer.stop()
        watch = traffic.HealthWatch(self.ports)
        watch.start(time.monotonic() - (time.time() - self.disaster_time))
        return watch

    async def measure_failover(self, writer: traffic.Writer, watch: traffic.HealthWatch,
                               failover: OperationResult) -> list[str]:
        """RTO from the disaster to a healthy public endpoint; RPO as writes lost and point age."""
        deadline = time.monotonic() + 30
        while len(watch.healthy_at) < len(self.ports) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        watch.stop()
        self.summary.rto_seconds = watch.rto()
        served = traffic.served_items(f"http://127.0.0.1:{self.ports[READ_APP]}") or []
        check = traffic.check_data(writer.acknowledged, served)
        self.summary.rpo_writes_lost = len(check.lost)
        self.summary.writes_acknowledged, self.summary.writes_served = check.acknowledged, check.served
        self.summary.data_check_passed, self.summary.data_check_detail = check.passed, check.detail
        for app in failover.apps:
            if app.point is not None:
                # A point taken after the kill still holds the data as it was at the kill: its age is zero.
                age = max(0.0, self.disaster_time - app.point.time.timestamp())
                self.summary.rpo_point_age_seconds[app.app] = round(age, 3)
        self.say(f"the shop answers from {failover.to_site} through the same public endpoints: {check.detail}")
        await self.write_report("failover", self.measurements(check))
        return [item for item in served if item in set(writer.acknowledged)]

    def measurements(self, check: traffic.DataCheck) -> report.Measurements:
        """The failover's figures as the report shows them; writes lost belong to the apps that hold data."""
        apps = {
            app: report.AppMeasurement(rto_seconds=self.summary.rto_seconds.get(app),
                                       rpo_point_age_seconds=self.summary.rpo_point_age_seconds.get(app),
                                       rpo_writes_lost=len(check.lost) if app == DATA_APP else None)
            for app in self.runbook.apps
        }
        return report.Measurements(apps=apps, data_check_passed=check.passed, data_check_detail=check.detail,
                                   writes_acknowledged=check.acknowledged, writes_served=check.served,
                                   disaster_at=datetime.fromtimestamp(self.disaster_time, UTC))

    async def check_failback(self, acknowledged: list[str]) -> None:
        """Failback drains replication after stopping DR: nothing the DR site acknowledged or served may be lost."""
        served = traffic.served_items(f"http://127.0.0.1:{self.ports[READ_APP]}") or []
        check = traffic.check_data(acknowledged, served)
        self.summary.failback_writes_lost = len(check.lost)
        self.summary.data_check_passed &= check.passed and not check.lost
        self.say(f"back at {self.runbook.protection.source}: {check.detail}")


def summary_table(summary: DemoSummary, runbook: Runbook) -> Table:
    """Per app: measured RTO and RPO against the runbook's targets."""
    table = Table("app", "RTO (disaster -> healthy)", "target", "recovery point age", "target",
                  title=f"failover of {summary.runbook}: {summary.rpo_writes_lost} acknowledged write(s) lost; "
                        f"data check {'passed' if summary.data_check_passed else 'FAILED'}")
    for name, app in runbook.apps.items():
        rto = summary.rto_seconds.get(name)
        age = summary.rpo_point_age_seconds.get(name)
        table.add_row(name, f"{rto:.1f}s" if rto is not None else "-", _target(app.rto),
                      f"{age:.1f}s" if age is not None else "-", _target(app.rpo))
    return table


def _target(value: timedelta | None) -> str:
    return f"{value.total_seconds():g}s" if value is not None else "-"


def write_summary(summary: DemoSummary, folder: Path) -> Path:
    """The measurements as JSON, for tests and for people."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "summary.json"
    path.write_text(json.dumps(asdict(summary), indent=2))
    return path


async def reset(client: Client, settings: Settings, runbook: str) -> None:
    """A clean slate: earlier runs' workflows of the runbook ended, processes stopped, state removed."""
    async for workflow in client.list_workflows(f"Runbook = '{runbook}' AND ExecutionStatus = 'Running'"):
        await client.get_workflow_handle(workflow.id).terminate("a new demo starts")
    layout = Layout(settings.state_dir, runbook)
    demo_site.stop_all(layout)
    shutil.rmtree(layout.root, ignore_errors=True)


async def end(client: Client, settings: Settings, runbook: str) -> None:
    """Stop protecting the runbook and every process it started."""
    try:
        await client.get_workflow_handle(temporal.owner_id(runbook)).terminate("demo ended")
    except Exception:  # already ended, or never started
        pass
    demo_site.stop_all(Layout(settings.state_dir, runbook))
