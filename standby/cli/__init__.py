"""The `standby` command: parse, call the library, print, exit 0 (ok), 1 (refused or invalid), 2 (usage).

One module per family of commands; each lists its commands in `COMMANDS`, and this
module adds them to the `main` group. They import `standby.cli.output` and the
library, never this module, so nothing here imports in a circle.
"""

import sys
import traceback
from typing import Any, NoReturn

import click

from standby.cli import (
    codec,
    demo,
    discover,
    doctor,
    monitor,
    operations,
    programme,
    report,
    runbooks,
    schedule,
    server,
)
from standby.cli.output import REFUSED, USAGE
from standby.client import exit_process
from standby.config import SettingsError


class Standby(click.Group):
    """The command group; run as a program, it ends the process with the command's true exit code."""

    def __call__(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Run the command line (click's standalone mode: usage errors 2, --help 0), then `exit_process`.

        Only the program's entry calls the group; click's test runner calls `main()`, which stays as click made it.
        """
        try:
            self.main(*args, **kwargs)
            code = 0
        except SystemExit as done:
            code = _code(done.code)
        except SettingsError as error:
            print(f"standby: {error}", file=sys.stderr)
            code = USAGE
        except Exception:
            traceback.print_exc()
            code = REFUSED
        exit_process(code)


def _code(value: object) -> int:
    """The exit status sys.exit(value) gives: None is 0, a number itself, any other value printed and 1."""
    if value is None or isinstance(value, int):
        return value or 0
    print(value, file=sys.stderr)
    return REFUSED


@click.group(cls=Standby, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Standby: disaster-recovery runbooks as durable Temporal workflows."""


for _family in (runbooks, server, operations, monitor, report, schedule, programme, demo, doctor, discover, codec):
    for _command in _family.COMMANDS:
        main.add_command(_command)
