"""`standby server`: the embedded Temporal dev server in the foreground."""

import os

import click

from standby import server
from standby.cli.output import err, fail
from standby.config import Settings


@click.command("server")
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
        fail(str(error))
    err.print(f"Temporal dev server on localhost:{port}, UI http://localhost:{ui_port}, state in {settings.state_dir}",
              markup=False)
    os.execv(argv[0], argv)


COMMANDS = (server_command,)
