"""vSphere tasks waited for to their end: with the other tasks of their batch (waits.py), else polled, heartbeating
their progress to Temporal while they run."""

import asyncio
import time
from collections.abc import Callable
from typing import Any

from pyVmomi import vim
from temporalio import activity

from activities.sites.base import ProviderError
from activities.sites.vsphere.errors import mapped
from activities.sites.vsphere.inventory import props
from activities.sites.vsphere.session import Session
from activities.sites.vsphere.waits import CURRENT, FIELDS

POLL_SECONDS = 0.25
MAX_POLL_SECONDS = 2.0
TASK_TIMEOUT_SECONDS = 30 * 60


async def run_task(session: Session, start: Callable[[vim.ServiceInstanceContent], vim.Task], what: str, context: str,
                   timeout: float = TASK_TIMEOUT_SECONDS) -> Any:
    """Start a task with `start(content)` and wait for it; its result, or its fault mapped to a provider error."""
    task = await session.run(start, what, context)
    batch = CURRENT.get()
    if batch is not None and batch.session is session:
        return await batch.wait(task, what, context, timeout)
    return await wait(session, task, what, context, timeout)


async def wait(session: Session, task: vim.Task, what: str, context: str, timeout: float = TASK_TIMEOUT_SECONDS) -> Any:
    """Poll a task (backing off to every 2 s) until it succeeds or fails; heartbeat its progress meanwhile."""
    deadline, pause = time.monotonic() + timeout, POLL_SECONDS
    while True:
        info = await session.run(lambda content: props(content, task, FIELDS), f"{what} (task state)", context)
        state = info.get("info.state")
        if state == vim.TaskInfo.State.success:
            return info.get("info.result")
        if state == vim.TaskInfo.State.error:
            raise mapped(info["info.error"], what, context)
        progress = info.get("info.progress")
        heartbeat(f"{what}: {state}" + (f" {progress}%" if progress is not None else ""))
        if time.monotonic() > deadline:
            raise ProviderError(f"{what} failed: task {task._moId} still {state} after {timeout:.0f}s [{context}]")
        await asyncio.sleep(pause)
        pause = min(pause * 2, MAX_POLL_SECONDS)


def heartbeat(detail: str) -> None:
    """Tell Temporal the worker is alive and what the task is doing; a no-op outside an activity."""
    if activity.in_activity():
        activity.heartbeat(detail)
