"""Following an operation through an outage of the Temporal server, which does not stop the operation.

The client's calls retry for `Settings.patience` seconds (`standby.client.connect`); meanwhile a watcher says
that the server does not answer, that the operation goes on in Temporal, and how to follow it later.
"""

import asyncio
from datetime import timedelta

from rich.console import Console
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from standby.client import follow
from standby.config import Settings

# How often a follower checks that the server still answers.
WATCH_SECONDS = 2.0


async def follow_patiently(client: Client, settings: Settings, ident: str, console: Console, errors: Console) -> int:
    """`follow`, also through an outage of the server: 1 only once it did not answer for `settings.patience` seconds.

    While the server does not answer, it says on `errors` that the operation goes on and how to follow it.
    """
    following = asyncio.create_task(follow(client, ident, console, errors))
    watching = asyncio.create_task(_watch(client, settings, ident, errors))
    try:
        await asyncio.wait({following, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (following, watching):
            task.cancel()
        await asyncio.gather(following, watching, return_exceptions=True)
    if not following.cancelled():
        error = following.exception()
        if error is None:
            return following.result()
        if not isinstance(error, RPCError) or error.status != RPCStatusCode.UNAVAILABLE:
            raise error
    errors.print(f"gave up following {ident}: Temporal at {settings.temporal_address} did not answer for "
                 f"{settings.patience:g}s. That does not stop the operation: it goes on in Temporal; follow it with "
                 f"`standby status {ident}` once the server answers again", markup=False)
    return 1


async def _watch(client: Client, settings: Settings, ident: str, errors: Console) -> None:
    """Say when the server stops and starts answering; return once it has not answered for `settings.patience`."""
    clock = asyncio.get_running_loop().time
    lost_at: float | None = None
    while lost_at is None or clock() - lost_at < settings.patience:
        await asyncio.sleep(WATCH_SECONDS)
        answers = await _answers(client)
        if not answers and lost_at is None:
            lost_at = clock()
            errors.print(f"Temporal at {settings.temporal_address} does not answer; {ident} goes on in Temporal. "
                         f"Still trying for {settings.patience:g}s (STANDBY_CLIENT_PATIENCE); follow it any time "
                         f"with `standby status {ident}`", markup=False)
        elif answers and lost_at is not None:
            lost_at = None
            errors.print(f"Temporal at {settings.temporal_address} answers again; following {ident}", markup=False)


async def _answers(client: Client) -> bool:
    """Whether the server answers a cheap call now, without the client's retries."""
    try:
        await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=WATCH_SECONDS))
    except RPCError:
        return False
    return True
