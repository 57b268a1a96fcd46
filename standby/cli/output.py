"""What every command shares: the two consoles, exit codes, and loading a runbook or exiting 1."""

import asyncio
import sys
from collections.abc import Callable, Coroutine
from functools import wraps
from typing import Any, NoReturn

from rich.console import Console
from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from standby import client as temporal
from standby import loader
from standby.issues import RunbookError
from standby.runbook import Runbook

out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)

REFUSED = 1
USAGE = 2


def fail(message: str, code: int = REFUSED) -> NoReturn:
    """Print the message on stderr and exit with `code` (1: refused or invalid, 2: usage)."""
    err.print(message, markup=False)
    sys.exit(code)


def load_or_exit(path: str) -> Runbook:
    """A valid runbook, or every issue printed and exit 1 (2 when the file is not a runbook at all)."""
    try:
        return loader.load(path)
    except RunbookError as error:
        err.print(str(error), markup=False)
        sys.exit(error.exit_code)


def run_async(command: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async click command; refusals and RPC errors print a sentence and exit 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            asyncio.run(command(*args, **kwargs))
        except temporal.Refused as error:
            fail(str(error))
        except RPCError as error:
            fail(_rpc_sentence(error))
        except WorkflowQueryFailedError as error:
            fail(f"Temporal refused: {error}")

    return wrapper


def _rpc_sentence(error: RPCError) -> str:
    """What a failed call to Temporal means for the operator, and what to do."""
    if error.status == RPCStatusCode.NOT_FOUND:
        return f"Temporal refused: {error.message}; list the runbooks' workflows with `standby status`"
    if error.status == RPCStatusCode.UNAVAILABLE:
        return (f"Temporal stopped answering ({error.message}) and did not answer again within "
                "STANDBY_CLIENT_PATIENCE; once it does, check with `standby status` whether the command took effect")
    return f"Temporal refused: {error}"
