"""`standby protect`: protect a runbook (`standby protect RUNBOOK_FILE`), or pause and resume its monitor."""

from pathlib import Path
from typing import Any

import click

from standby import client as temporal
from standby import gate_client
from standby.cli import operations
from standby.cli.output import USAGE, fail, out, run_async
from standby.config import Settings
from standby.proof import ProofError
from standby.runbook import Gate


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


def _monitor_command(action: Gate, summary: str) -> click.Command:
    @click.argument("runbook")
    @click.option("--reason", default="", help="why, recorded with the pause")
    @operations.identity_options
    @run_async
    async def command(runbook: str, reason: str, user: str | None, password_file: Path | None) -> None:
        client = await temporal.connect(Settings.from_env())
        name = runbook.removeprefix("standby/")
        owner = temporal.owner_id(name)
        try:
            run_id, sent = await gate_client.monitor_command(client, owner, action,
                                                             gate_client.Identity(user, password_file), reason)
        except ProofError as error:  # a missing key or password: exit 2, saying which
            fail(str(error), USAGE)
        handle: Any = client.get_workflow_handle(owner, run_id=run_id)
        try:
            answer = await handle.execute_update("monitor", sent, result_type=str)
        except Exception as error:  # the SDK raises WorkflowUpdateFailedError carrying the gate's reason
            raise temporal.Refused(f"`standby protect {action} {name}` refused: {_reason(error)}") from None
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
