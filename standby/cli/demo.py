"""`standby demo`: start (or reuse) the dev server and a worker, then run the demo and show what it measured."""

import asyncio
import signal
import sys
from dataclasses import replace
from pathlib import Path

import click
from temporalio.client import Client

from standby import client as temporal
from standby import demo as lifecycle
from standby import demo_site, server
from standby.cli.output import err, fail, load_or_exit, out
from standby.config import Settings
from standby.runbook import Runbook

SHOP = Path(__file__).resolve().parent.parent.parent / "runbooks" / "shop.yaml"


@click.command()
@click.option("--runbook", "runbook_file", default=str(SHOP), show_default=True, type=click.Path(dir_okay=False))
@click.option("--state", "state_dir", help="state folder (default $STANDBY_STATE or .standby)")
@click.option("--port", default=7233, show_default=True, help="Temporal frontend port (reused if a server answers)")
@click.option("--ui-port", default=8233, show_default=True)
@click.option("--exit", "exit_at_end", is_flag=True, help="stop everything when the demo ends instead of waiting")
def demo(runbook_file: str, state_dir: str | None, port: int, ui_port: int, exit_at_end: bool) -> None:
    """Protect the sample shop, drill it, kill its primary site, fail over, fail back, return to normal."""
    runbook = load_or_exit(runbook_file)
    base = Settings.from_env(state_dir)
    settings = replace(base, temporal_address=f"127.0.0.1:{port}", ui_url=f"http://localhost:{ui_port}")
    try:
        sys.exit(asyncio.run(_run(settings, runbook, ui_port, exit_at_end)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        err.print("stopped", markup=False)
    except (temporal.Refused, server.ServerError, lifecycle.DemoFailed) as error:
        fail(f"demo failed: {error}")


async def _run(settings: Settings, runbook: Runbook, ui_port: int, exit_at_end: bool) -> int:
    # SIGTERM (`kill`, `timeout`, a service manager) stops the demo as Ctrl-C does: its server, workers and the shop's
    # processes are stopped on the way out, not left running.
    running = asyncio.current_task()
    assert running is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, running.cancel)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    started_server = server.start_background(settings.state_dir, settings.temporal_address, ui_port)
    try:
        out.print(f"Temporal {'started' if started_server else 'reused'} at {settings.temporal_address}, "
                  f"UI {settings.ui_url}", markup=False)
        client = await temporal.connect(settings, wait=60 if started_server else 0)
        return await _with_workers(client, settings, runbook, exit_at_end)
    finally:
        # Also when stopped while it connects: a server this demo started does not outlive it.
        if started_server is not None:
            started_server.terminate()
            started_server.wait(timeout=30)


async def _with_workers(client: Client, settings: Settings, runbook: Runbook, exit_at_end: bool) -> int:
    # One worker per site, each a process of its own, as on the worst day: the disaster kills the primary's.
    workers = {site: demo_site.SiteWorker(settings, site) for site in runbook.sites}
    try:
        await lifecycle.reset(client, settings, runbook.runbook)
        for worker in workers.values():
            worker.start()
        out.print(f"workers started, one per site: {', '.join(workers)}", markup=False)
        summary = await lifecycle.Demo(client, settings, runbook, out, err, workers).run()
        path = lifecycle.write_summary(summary, settings.state_dir / "demo")
        out.print(lifecycle.summary_table(summary, runbook))
        out.print(f"demo took {summary.seconds:.0f}s; measurements in {path}", markup=False)
        if not exit_at_end:
            out.print(f"Temporal UI: {settings.ui_url} — press Ctrl-C to stop", markup=False)
            await asyncio.Event().wait()
        return 0 if summary.data_check_passed else 1
    finally:
        # Workers first: a worker still running would start what the operation in flight launches next (a drill
        # target, an endpoint's proxy) after its processes were stopped.
        for worker in workers.values():
            worker.stop()
        await lifecycle.end(client, settings, runbook.runbook)

COMMANDS = (demo,)
