"""The `standby` command: parse, call the library, print, exit 0 (ok), 1 (refused or invalid), 2 (usage).

One module per family of commands; each lists its commands in `COMMANDS`, and this
module adds them to the `main` group. They import `standby.cli.output` and the
library, never this module, so nothing here imports in a circle.
"""

import click

from standby.cli import demo, doctor, monitor, operations, report, runbooks, server


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Standby: disaster-recovery runbooks as durable Temporal workflows."""


for _family in (runbooks, server, operations, monitor, report, demo, doctor):
    for _command in _family.COMMANDS:
        main.add_command(_command)
