"""`standby protect`: protect a runbook (`standby protect RUNBOOK_FILE`), or pause and resume its monitor."""

import getpass
from typing import Any

import click

from standby import client as temporal
from standby.cli import operations
from standby.cli.output import out, run_async
from standby.config import Settings
from standby.contracts.monitor import MonitorCommand


class ProtectGroup(click.Group):
    """A group whose first argument, when it names no subcommand, is the runbook file to protect."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """`protect shop.yaml --stop` runs `protect start shop.yaml --stop`."""
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["start", *args]
        return super().parse_args(ctx, args)


@click.group(cls=ProtectGroup)
def protect() -> None:
    """Protect a runbook: `standby protect RUNBOOK_FILE`; maintenance mode: `standby protect pause|resume RUNBOOK`."""


protect.add_command(operations.protect, name="start")


def _monitor_command(action: str, summary: str) -> click.Command:
    @click.argument("runbook")
    @click.option("--by", default=getpass.getuser, help="who asks (default: your user name)")
    @click.option("--reason", default="", help="why, recorded with the pause")
    @run_async
    async def command(runbook: str, by: str, reason: str) -> None:
        client = await temporal.connect(Settings.from_env())
        handle: Any = client.get_workflow_handle(temporal.owner_id(runbook.removeprefix("standby/")))
        try:
            answer = await handle.execute_update("monitor", MonitorCommand(action=action, by=by, reason=reason),
                                                 result_type=str)
        except Exception as error:  # the SDK raises WorkflowUpdateFailedError carrying the validator's reason
            raise temporal.Refused(f"{handle.id}: {_reason(error)}") from None
        out.print(answer, markup=False)

    command.__doc__ = summary
    return click.command(action)(command)


def _reason(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return getattr(error, "message", None) or str(error)


protect.add_command(_monitor_command("pause", "Maintenance mode: the monitor of RUNBOOK (a name) acts on nothing."))
protect.add_command(_monitor_command("resume", "End maintenance mode: the monitor of RUNBOOK acts again."))

COMMANDS = (protect,)
