"""The runs record.py keeps, one real and successful run of each Standby workflow type.

Each scenario drives its operations on a worker it brings and returns the IDs of the workflows whose
histories are committed. Every folder they write lives under the recorder's state folder, so that the only
machine path a history shows is that one.
"""

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from moto.server import ThreadedMotoServer
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from activities import registry
from activities.sites.aws.clients import ENDPOINT_ENV
from activities.sites.local import PROVIDER as LOCAL
from activities.sites.registry import Providers
from bench.provider import BenchSiteProvider, Counter, Timings
from bench.runbooks import generate
from standby import client as temporal
from standby import lifecycle, points
from standby.config import Settings
from standby.contracts.failback import TOKEN_ENV
from standby.contracts.operations import Approval, OperationResult, Progress
from standby.contracts.programme import ScheduledDrillInput, ScheduledDrillResult
from standby.contracts.protect import OwnerStatus
from standby.contracts.sites import MachineReplication
from standby.contracts.state import OperationRequest, ProtectRequest
from standby.runbook import Runbook
from tests.helpers import eventually_async
from worker import SiteWorkers
from workflows.registry import WORKFLOWS

# What an operator answers, in order, during each operation of the shop's lifecycle.
LIFECYCLE = [("drill", []), ("failover", ["approve", "continue"]), ("failback", ["approve"]), ("return", []),
             ("switchover", ["approve"])]
# Group children kept: a test-mode recovery (drill) and one that moves identities (failover).
GROUPS = [f"{op}/{group}" for op in ("drill", "failover") for group in ("data", "services")]
# One group of 60 apps: a first wave of 6 the others depend on, then a wave of 54, more than a batch, so it
# stops in StopApps children and recovers in RecoverApps children (50 and 4 apps).
WIDE_APPS = 60
# A fake installation token: the recorder refuses a history that shows its secret half.
TOKEN = "AKIARECORDERTOKEN001:recorder-secret-never-in-history"
# Events that open and close what a workflow waits for: an owner's history is kept once all are closed.
OPENED = {EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: "activity",
          EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: "child",
          EventType.EVENT_TYPE_TIMER_STARTED: "timer"}
CLOSED = {EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity",
          EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity",
          EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity",
          EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity",
          EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: "child",
          EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED: "child",
          EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: "child",
          EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: "child",
          EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: "child",
          EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED: "child",
          EventType.EVENT_TYPE_TIMER_FIRED: "timer", EventType.EVENT_TYPE_TIMER_CANCELED: "timer"}


def at_rest(events: list[HistoryEvent]) -> bool:
    """Whether a run waits for nothing it started: every activity, child and timer closed, its last task done.

    The runbook's owner never ends; its history is kept at such a point, where a replay covers every command."""
    balance = {"activity": 0, "child": 0, "timer": 0}
    for event in events:
        if event.event_type in OPENED:
            balance[OPENED[event.event_type]] += 1
        elif event.event_type in CLOSED:
            balance[CLOSED[event.event_type]] -= 1
    return not any(balance.values()) and events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


@asynccontextmanager
async def serving(client: Client, queue: str, activities: list, sites: list[str],
                  identity: str | None = None) -> AsyncIterator[None]:
    """A worker of the shared queue and one of each site's queue, as `python worker.py` runs them."""
    site_workers = asyncio.create_task(SiteWorkers(client, queue, activities, sites).run())
    try:
        async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=activities, identity=identity):
            yield
    finally:
        site_workers.cancel()
        await asyncio.gather(site_workers, return_exceptions=True)


def settings(client: Client, queue: str, state: Path) -> Settings:
    """What the CLI would use, on the scenario's queue."""
    return Settings(state_dir=state, temporal_address=client.service_client.config.target_host,
                    namespace=client.namespace, task_queue=queue, ui_url="http://localhost:8233")


async def shop(client: Client, config: Settings, runbook: Runbook) -> list[str]:
    """Protect the shop through its owner, then drill, fail over, fail back, return and switch over, answering
    as an operator; protection stops at the end, and the owner is kept once it waits for nothing."""
    await temporal.protect(client, config, ProtectRequest(runbook=runbook, requested_by="operator"))
    owner = client.get_workflow_handle(temporal.owner_id(runbook.runbook))
    await eventually_async(lambda: _continuous(owner, runbook), 60, 0.2, "continuous data protection")
    for operation, answers in LIFECYCLE:
        options = {"keep_for": timedelta(seconds=1)} if operation == "drill" else {}
        started = await temporal.start(client, config, OperationRequest(
            operation=operation, runbook=runbook, requested_by="operator", **options))  # type: ignore[arg-type]
        handle = client.get_workflow_handle(started.workflow_id, result_type=OperationResult)
        for reply in answers:
            await answer(handle, reply)
        result = await asyncio.wait_for(handle.result(), 120)
        print(f"  {operation}: {result.state}")
        if operation == "return":
            await _programme(client, config, runbook, owner)
    await temporal.protect(client, config, ProtectRequest(runbook=runbook, stop=True))
    await eventually_async(lambda: _at_rest(owner), 30, 0.2, "the owner waiting for nothing")
    return [owner.id, *(f"{owner.id}/{op}" for op, _ in LIFECYCLE), *(f"{owner.id}/{group}" for group in GROUPS),
            f"{owner.id}/points", f"{owner.id}/scheduled-drill"]


async def _programme(client: Client, config: Settings, runbook: Runbook, owner: WorkflowHandle) -> None:
    """Back to normal: list the recovery points, and drill as a schedule does once protection is continuous."""
    await eventually_async(lambda: _continuous(owner, runbook), 60, 0.2, "continuous data protection again")
    await points.listing(client, config, runbook.runbook)
    scheduled = await client.execute_workflow(
        "ScheduledDrill", ScheduledDrillInput(runbook=runbook.runbook, keep_for=timedelta(seconds=1)),
        id=f"{owner.id}/scheduled-drill", task_queue=config.task_queue, result_type=ScheduledDrillResult)
    print(f"  scheduled drill: {scheduled.state}")


async def _at_rest(handle: WorkflowHandle) -> bool:
    return at_rest(list((await handle.fetch_history()).events))


async def _continuous(owner: WorkflowHandle, runbook: Runbook) -> bool:
    status = await owner.query("status", result_type=OwnerStatus)
    return {m.machine for m in status.machines} == set(runbook.machines) and all(
        m.phase == "continuous" for m in status.machines)


async def answer(handle: WorkflowHandle, update: str) -> None:
    """Wait until the operation waits for this answer, then give it."""

    async def waiting() -> bool:
        current = await handle.query("progress", result_type=Progress)
        return current.awaiting_approval if update == "approve" else current.prompt is not None

    await eventually_async(waiting, 120, 0.1, f"{handle.id} waiting for {update}")
    answer = Approval(by="operator", comment="recorded") if update == "approve" else "operator"
    await handle.execute_update(update, answer, result_type=str)


async def batches(client: Client, queue: str, state: Path) -> list[str]:
    """The wide failover: its wave stops in StopApps children and recovers in RecoverApps children; keeps the
    failover, its group and the smallest child of each type."""
    handle = await bench_failover(client, queue, state, generate(WIDE_APPS, 1, name="wide"))
    group = client.get_workflow_handle(f"{handle.id}/group1")
    return [handle.id, group.id, (await _children(handle, "StopApps"))[-1], (await _children(group, "RecoverApps"))[-1]]


async def bench_failover(client: Client, queue: str, state: Path, runbook: Runbook,
                         answers: tuple[str, ...] = ()) -> WorkflowHandle:
    """A failover of the runbook on the benchmark provider (nothing real is launched), through an owner that starts
    knowing its apps protected, given the operator's `answers` in order; its handle once it ended."""
    bench = replace(LOCAL, factory=lambda site, _: BenchSiteProvider(site, Timings(), Counter()))
    config = settings(client, queue, state)
    async with serving(client, queue, registry.build(state, Providers(state, [bench])), sorted(runbook.sites)):
        owner = await temporal.start_owner(client, config, runbook, lifecycle.protected(runbook))
        started = await temporal.start(client, config, OperationRequest(operation="failover", runbook=runbook,
                                                                        yes=True, requested_by="operator"))
        handle = client.get_workflow_handle(started.workflow_id, result_type=OperationResult)
        for reply in answers:
            await answer(handle, reply)
        print(f"  {runbook.runbook} failover of {len(runbook.apps)} apps: {(await handle.result()).state}")
        await owner.terminate("recorded")
    return handle


async def _children(handle: WorkflowHandle, workflow_type: str) -> list[str]:
    """IDs of the children of a type a workflow started, in order (the last batch is the smallest)."""
    history = await handle.fetch_history()
    started = [e.start_child_workflow_execution_initiated_event_attributes for e in history.events
               if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED]
    found = [a.workflow_id for a in started if a.workflow_type.name == workflow_type]
    assert found, f"{handle.id} started no {workflow_type} child"
    return found


async def failback_client(client: Client, queue: str, state: Path) -> list[str]:
    """One successful Failback Client run as tests/test_aws_failback_client.py drives it: STS, EC2 and S3 from
    moto's server, DRS scripted behind a Stubber (it has no emulator), disks as files, a real listener."""
    # Imported here: moto and the DRS stubs are needed by this scenario alone.
    from tests.test_aws_failback_client import Setup

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        with _aws_environment(f"http://{host}:{port}"):
            return await _run_failback_client(client, queue, Setup(f"http://{host}:{port}", _folder(state / "disks")),
                                              state)
    finally:
        server.stop()


async def _run_failback_client(client: Client, queue: str, setup, state: Path) -> list[str]:
    await setup.fail_over()
    ident = "standby/aws-shop/failback/failback-client/db1"
    listener = await asyncio.start_server(lambda reader, writer: writer.close(), "127.0.0.1", setup.port)
    try:
        async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=setup.activities(state)):
            handle = await client.start_workflow("FailbackClient", setup.step, id=ident, task_queue=queue,
                                                 result_type=MachineReplication)
            print(f"  Failback Client of db1: {(await asyncio.wait_for(handle.result(), 60)).phase}")
    finally:
        listener.close()
    assert TOKEN.split(":")[1] not in (await handle.fetch_history()).to_json(), "the token entered a history"
    return [ident]


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _aws_environment(endpoint: str) -> Iterator[None]:
    """moto's endpoint, its test credentials and the fake installation token, only while the scenario runs."""
    changes = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1",
               ENDPOINT_ENV: endpoint, TOKEN_ENV: TOKEN, "AWS_PROFILE": None, "AWS_SESSION_TOKEN": None,
               "AWS_CONFIG_FILE": None, "AWS_SHARED_CREDENTIALS_FILE": None}
    saved = {name: os.environ.get(name) for name in changes}
    try:
        _apply(changes)
        yield
    finally:
        _apply(saved)


def _apply(values: dict[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
