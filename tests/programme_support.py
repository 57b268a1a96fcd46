"""What the DR programme's tests share: a worker whose activities may ask owners, the CLI in a thread, schedules."""

import asyncio
import json
from typing import Any

import pytest_asyncio
from click.testing import CliRunner
from temporalio.client import Client
from temporalio.service import RPCError

from activities import registry
from standby.cli import main
from tests.conftest import serving
from tests.ops_helpers import settings_for


@pytest_asyncio.fixture
async def programme_worker(client, task_queue, state_dir):
    """Workers with every workflow and activity, including those a scheduled drill uses to ask a runbook's owner."""
    activities = registry.build(state_dir, client=client, settings=settings_for(task_queue))
    async with serving(client, task_queue, activities) as running:
        yield running


async def standby(client: Client, task_queue: str, *args: str, code: int = 0) -> str:
    """Run the `standby` CLI in a thread (it runs its own event loop) against the test's server and queue."""
    # Wide enough that tables keep each cell on one line.
    env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host, "STANDBY_TASK_QUEUE": task_queue,
           "COLUMNS": "220"}
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)
    assert result.exit_code == code, f"standby {' '.join(args)} exited {result.exit_code}:\n{result.output}"
    return result.output


async def standby_json(client: Client, task_queue: str, *args: str) -> Any:
    """The JSON a `standby ... --json` command printed."""
    return json.loads(await standby(client, task_queue, *args, "--json"))


async def delete_schedule(client: Client, ident: str) -> None:
    """Delete a schedule a test made, if it is still there."""
    try:
        await client.get_schedule_handle(ident).delete()
    except RPCError:
        pass  # already deleted by the test
