"""Batches of machines: a worker killed mid-batch launches nothing twice, apps start when what they depend on is
healthy, the machines of an app come back from one moment, and a group past its inline history goes on in
children.

The sites use the benchmark provider from bench/ (calls of known length, points of known times): these tests
check the orchestration, which the provider does not change; the providers' own batch calls are tested
against their servers (tests/test_aws_provider.py, tests/test_local_provider.py).
"""

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from temporalio.api.enums.v1 import EventType

from activities import registry
from activities.sites.local import PROVIDER as LOCAL
from activities.sites.registry import Providers
from bench.provider import BenchSiteProvider, Counter, Record, Timings, points_of
from standby import client as temporal
from standby.contracts.batches import LaunchProgress
from standby.contracts.operations import AppOutcome, GroupInput, GroupResult
from standby.contracts.sites import machine_index
from standby.converter import DATA_CONVERTER
from standby.plan import build
from standby.plan_steps import RecoverGroup
from standby.runbook import Runbook
from tests.conftest import serving
from tests.helpers import eventually_async
from tests.ops_helpers import failover_protected, owner_status, stop_workflows, waiting_prompt

ROOT = Path(__file__).resolve().parent.parent
SLOW_HEALTH = [sys.executable, "-c", "import time; time.sleep(3)"]


def runbook(name: str, apps: dict[str, dict], machines: list[str]) -> Runbook:
    """One group of apps on two local sites (never started: the benchmark provider serves them)."""
    return Runbook.model_validate({
        "runbook": name,
        "sites": {"primary": {"provider": "local"}, "dr": {"provider": "local"}},
        "protection": {"source": "primary", "target": "dr"},
        "machines": dict.fromkeys(machines, {}),
        "apps": {app: {"start": ["true"], **spec} for app, spec in apps.items()},
        "groups": [{"name": "all", "apps": list(apps)}],
    })


class BenchWorker:
    """`python -m bench.worker`: every workflow and site of the test's queue, launches recorded in a shared file."""

    def __init__(self, client, task_queue: str, folder: Path):
        self.client, self.task_queue, self.folder = client, task_queue, folder
        self.record = Record(folder / "record.jsonl")
        self.processes: list[subprocess.Popen] = []

    def start(self) -> None:
        """A new worker process; its calls are written to counts-N.json when it is stopped."""
        argv = [sys.executable, "-m", "bench.worker", "--address", self.client.service_client.config.target_host,
                "--task-queue", self.task_queue, "--counts", str(self.counts(len(self.processes))),
                "--launch", "0.2", "--spread", "1.5", "--record", str(self.record.path)]
        self.processes.append(subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}))

    def counts(self, n: int) -> Path:
        """Where worker n writes its calls."""
        return self.folder / f"counts-{n}.json"

    def kill(self) -> None:
        """kill -9 of the newest worker: nothing reported to Temporal."""
        self.processes[-1].send_signal(signal.SIGKILL)
        self.processes[-1].wait()

    def stop(self) -> None:
        """SIGTERM to every worker still running (each then writes its calls)."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
                process.wait(30)


async def heartbeated(client, workflow_id: str) -> LaunchProgress | None:
    """The progress the group's pending batch launch has heartbeated, once it names a launched machine."""
    description = await client.get_workflow_handle(workflow_id).describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name == "launch_targets" and pending.heartbeat_details.payloads:
            [progress] = await DATA_CONVERTER.decode(pending.heartbeat_details.payloads, [LaunchProgress])
            if progress.targets:
                return progress
    return None


async def killed_mid_launch(client, task_queue, book: Runbook, workers: BenchWorker):
    """A failover of `book` whose worker is killed (SIGKILL) once the launch heartbeated a launched machine, and
    started again: the result, and the progress the killed worker heartbeated."""
    workers.start()
    failover = None
    try:
        failover = await failover_protected(client, book, task_queue)
        progress = await eventually_async(lambda: heartbeated(client, failover.id), 60, 0.2,
                                          "a heartbeat of the batch launch naming launched machines")
        assert len(progress.targets) < len(book.machines), "the batch must still be launching when the worker dies"
        workers.kill()
        workers.start()
        return await failover.result(), progress
    finally:
        workers.stop()
        await stop_workflows(failover, client.get_workflow_handle(temporal.owner_id(book.runbook)))


async def test_a_worker_killed_during_a_batch_launch_launches_every_machine_once(client, task_queue, tmp_path):
    # Ten apps ready at once: one batch, machine i launched after 0.2 + 1.5 i seconds.
    machines = [f"m{i}" for i in range(10)]
    book = runbook("batch-crash", {f"a{i}": {"machines": [m]} for i, m in enumerate(machines)}, machines)
    workers = BenchWorker(client, task_queue, tmp_path)
    result, progress = await killed_mid_launch(client, task_queue, book, workers)
    assert result.state == "failed_over"
    assert sorted(t.machine for a in result.apps for t in a.targets) == sorted(machines)
    made = workers.record.made()
    # Every machine's target made exactly once, across both workers.
    assert sorted(r["machine"] for r in made) == sorted(machines)
    second = json.loads(workers.counts(1).read_text())
    # The retry asked only for the machines its heartbeat did not name as launched.
    assert second.get("launch", 0) + second.get("found", 0) <= len(machines) - len(progress.targets)
    assert {r["machine"] for r in made if r["worker"] == workers.processes[1].pid}.isdisjoint(
        t.machine for t in progress.targets)


async def recover(client, task_queue, state_dir, book: Runbook):
    """A failover of `book` on an in-process worker with the benchmark provider; its result and the calls."""
    counter = Counter()
    bench = replace(LOCAL, factory=lambda site, _: BenchSiteProvider(site, Timings(launch=0.2), counter))
    async with serving(client, task_queue, registry.build(state_dir, Providers(state_dir, [bench]))):
        handle = await failover_protected(client, book, task_queue)
        try:
            return await handle.result(), counter
        finally:
            await stop_workflows(client.get_workflow_handle(temporal.owner_id(book.runbook)))


async def test_the_operation_tells_the_owner_of_a_recovered_group_while_the_next_one_starts(
        client, task_queue, state_dir):
    # The second group waits at a prompt: by then the owner knows the first serves at dr, from the operation, which
    # recovered it inline and reported it as the next group started.
    book = Runbook.model_validate({
        "runbook": "handover", "sites": {"primary": {"provider": "local"}, "dr": {"provider": "local"}},
        "protection": {"source": "primary", "target": "dr"}, "machines": {"db1": {}, "web1": {}},
        "apps": {"db": {"machines": ["db1"], "start": ["true"]}, "web": {"machines": ["web1"], "start": ["true"]}},
        "groups": [{"name": "first", "apps": ["db"]}, {"name": "second", "apps": ["web"]}],
        "hooks": [{"at": "before_group:second", "prompt": "go on with web"}],
    })
    bench = replace(LOCAL, factory=lambda site, _: BenchSiteProvider(site, Timings(), Counter()))
    handle = None
    async with serving(client, task_queue, registry.build(state_dir, Providers(state_dir, [bench]))):
        try:
            handle = await failover_protected(client, book, task_queue)
            await waiting_prompt(client, handle, "go on with web")

            # The report is a signal: the owner may take it in a moment after the prompt began, never after web.
            async def db_at_dr():
                apps = (await owner_status(client, book)).truth.apps
                return apps if apps["db"].serving == "dr" else None

            truth = await eventually_async(db_at_dr, what="the owner knows db serves at dr")
        finally:
            await stop_workflows(handle, client.get_workflow_handle(temporal.owner_id(book.runbook)))
    assert truth["web"].serving != "dr"


async def test_an_app_starts_once_what_it_depends_on_is_healthy_not_when_its_wave_is(client, task_queue, state_dir):
    # db and slow start together; api depends on db only, so it must not wait for slow's health check.
    book = runbook("ready", {
        "db": {"machines": ["db1"]},
        "slow": {"machines": ["slow1"], "health": [{"command": {"run": SLOW_HEALTH}}]},
        "api": {"machines": ["api1"], "depends_on": ["db"]},
        "web": {"machines": ["web1"], "depends_on": ["api", "slow"]},
    }, ["db1", "slow1", "api1", "web1"])
    result, counter = await recover(client, task_queue, state_dir, book)
    assert result.state == "failed_over"
    outcomes: dict[str, AppOutcome] = {a.app: a for a in result.apps}
    for app, spec in book.apps.items():
        for dependency in spec.depends_on:
            assert outcomes[app].started >= outcomes[dependency].healthy, f"{app} started before {dependency}"
    assert outcomes["api"].started < outcomes["slow"].healthy, "api waited for its wave, not for db"
    # Each machine launched once, in three batches: {db, slow}, {api}, {web}.
    assert counter.calls["launch"] == 4


async def test_the_machines_of_an_app_come_back_from_one_moment(client, task_queue, state_dir):
    # pair1 has points up to 20 s, pair2 up to 10 s: the app's moment is 10 s, for both machines.
    book = runbook("moment", {"solo": {"machines": ["solo1"]}, "pair": {"machines": ["pair1", "pair2"]}},
                   ["solo1", "pair1", "pair2"])
    result, _ = await recover(client, task_queue, state_dir, book)
    pair = next(a for a in result.apps if a.app == "pair")
    newest = {m: points_of(i)[-1] for i, m in enumerate(book.machines)}
    assert newest["pair1"].time > newest["pair2"].time, "the machines must have different newest points"
    moment = newest["pair2"]
    assert {t.machine: t.point_id for t in pair.targets} == {"pair1": points_of(1)[1].id, "pair2": moment.id}
    assert points_of(1)[1].time == moment.time
    assert pair.point is not None and pair.point.time == moment.time


async def test_a_group_past_its_inline_history_recovers_its_later_batches_in_children_each_machine_once(
        client, task_queue, state_dir, tmp_path):
    # One app the other 799 depend on: it alone inline (the history has 3 events when it starts), then, with the
    # threshold at 6 events, batches of 500 and 299 machines in RecoverApps children (too many to start in the first
    # batch's activity as it launches).
    book = runbook("inline", {"hub": {"machines": ["hub1"]}, **{
        f"a{i}": {"machines": [f"m{i}"], "depends_on": ["hub"]} for i in range(799)}},
        ["hub1", *(f"m{i}" for i in range(799))])
    plan = build(book, "failover")
    [step] = [s for s in plan.steps if isinstance(s, RecoverGroup)]
    inp = GroupInput(key=f"{task_queue}/key", runbook=book, operation="failover", step=step,
                     machine_index=machine_index(book), endpoints=plan.endpoints, inline_history=6)
    record = Record(tmp_path / "record.jsonl")
    bench = replace(LOCAL, factory=lambda site, _: BenchSiteProvider(site, Timings(), Counter(), record))
    group_id = f"{task_queue}/group"
    async with serving(client, task_queue, registry.build(state_dir, Providers(state_dir, [bench])),
                       sites=["primary", "dr"]):
        result = await client.execute_workflow("RecoverGroup", inp, id=group_id, task_queue=task_queue,
                                               result_type=GroupResult)
    events = (await client.get_workflow_handle(group_id).fetch_history()).events
    children = [e.child_workflow_execution_started_event_attributes.workflow_type.name for e in events
                if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED]
    inline = sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in events)
    assert children == ["RecoverApps", "RecoverApps"] and inline == 1
    assert result.apps_total == 800 and {a.app for a in result.apps} == set(book.apps)
    assert sorted(r["machine"] for r in record.made()) == sorted(book.machines)
