"""Apps that wait only for apps healthy once launched start in the same launch activity, as those launch: no workflow
task between a tier and its dependents (workflows/ready.py, activities/sites/batch.py).

Workflows run on the dev server with the benchmark provider (bench/), in process or as `python -m bench.worker`
processes killed with SIGKILL; the activity alone runs in the SDK's ActivityEnvironment.
"""

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import registry
from activities.sites.activities import SiteActivities
from activities.sites.base import PermanentProviderError
from activities.sites.local import PROVIDER as LOCAL
from activities.sites.registry import Providers
from bench.provider import BenchSiteProvider, Counter, Timings
from bench.runbooks import generate
from standby import client as temporal
from standby.contracts.batches import LaunchBatchInput, LaunchProgress
from standby.contracts.operations import AppOutcome
from standby.contracts.sites import LaunchInput, Target, app_ref, machine_index, site_ref
from standby.plan import build
from tests.conftest import serving
from tests.helpers import eventually_async
from tests.ops_helpers import failover_protected, stop_workflows
from tests.test_batches import BenchWorker, killed_mid_launch, runbook
from workflows.ready import chains

# db <- api <- web, and db <- jobs: every app healthy once launched.
CHAIN = {"db": {"machines": ["db1"]}, "api": {"machines": ["api1"], "depends_on": ["db"]},
         "web": {"machines": ["web1"], "depends_on": ["api"]}, "jobs": {"machines": ["jobs1"], "depends_on": ["db"]}}


async def recover(client, task_queue, state_dir, book):
    """A failover of `book` on an in-process worker with the benchmark provider: its result, its workflow's id, the
    provider's calls."""
    counter = Counter()
    bench = replace(LOCAL, factory=lambda site, _: BenchSiteProvider(site, Timings(launch=0.2), counter))
    async with serving(client, task_queue, registry.build(state_dir, Providers(state_dir, [bench]))):
        handle = await failover_protected(client, book, task_queue)
        try:
            return await handle.result(), handle.id, counter
        finally:
            await stop_workflows(client.get_workflow_handle(temporal.owner_id(book.runbook)))


async def launch_activities(client, workflow_id: str) -> int:
    """The launch activities the workflow and its children scheduled."""
    pending, found = [workflow_id], 0
    while pending:
        events = (await client.get_workflow_handle(pending.pop()).fetch_history()).events
        found += sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                     and e.activity_task_scheduled_event_attributes.activity_type.name == "launch_targets"
                     for e in events)
        pending += [e.child_workflow_execution_started_event_attributes.workflow_execution.workflow_id
                    for e in events if e.event_type == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED]
    return found


def assert_in_order(book, outcomes: dict[str, AppOutcome]) -> None:
    for app, spec in book.apps.items():
        for dependency in spec.depends_on:
            assert outcomes[app].started >= outcomes[dependency].healthy, f"{app} started before {dependency}"


async def test_a_group_of_plain_apps_recovers_in_one_launch_activity_each_after_its_dependencies(
        client, task_queue, state_dir):
    book = runbook("chain", CHAIN, ["db1", "api1", "web1", "jobs1"])
    result, workflow_id, counter = await recover(client, task_queue, state_dir, book)
    assert result.state == "failed_over"
    outcomes = {a.app: a for a in result.apps}
    assert_in_order(book, outcomes)
    # Each launch takes 0.2 s: three in a row for web.
    assert outcomes["web"].started > outcomes["api"].started > outcomes["db"].started
    assert counter.calls["launch"] == 4
    assert await launch_activities(client, workflow_id) == 1
    # The stop named the apps that simply stopped; the timeline still says so of each.
    waves = {s.name: s.detail for s in result.steps if s.name.startswith("stop ")}
    assert any(detail == "web: web1 stopped" for detail in waves.values()), waves
    assert any(detail == "db: db1 stopped" for detail in waves.values()), waves


async def test_an_app_with_a_health_check_keeps_its_dependents_out_of_its_launch_activity(
        client, task_queue, state_dir):
    # db is checked after its launch: api must wait for the check, so it is launched by an activity of its own.
    apps = {**CHAIN, "db": {"machines": ["db1"], "health": [{"command": {"run": ["true"]}}]}}
    book = runbook("checked", apps, ["db1", "api1", "web1", "jobs1"])
    result, workflow_id, counter = await recover(client, task_queue, state_dir, book)
    assert result.state == "failed_over"
    outcomes = {a.app: a for a in result.apps}
    assert_in_order(book, outcomes)
    assert counter.calls["launch"] == 4
    # db alone; then api, web and jobs together, web as api launched.
    assert await launch_activities(client, workflow_id) == 2


async def test_a_worker_killed_during_a_chained_launch_launches_every_machine_once(client, task_queue, tmp_path):
    # a0 <- a1 <- a2 <- a3: machine i takes 0.2 + 1.5 i seconds, each starting once the one before launched.
    machines = [f"m{i}" for i in range(4)]
    apps = {f"a{i}": {"machines": [m], "depends_on": [f"a{i - 1}"] if i else []} for i, m in enumerate(machines)}
    book = runbook("chain-crash", apps, machines)
    workers = BenchWorker(client, task_queue, tmp_path)
    result, _ = await killed_mid_launch(client, task_queue, book, workers)
    assert result.state == "failed_over"
    assert sorted(r["machine"] for r in workers.record.made()) == sorted(machines)
    assert_in_order(book, {a.app: a for a in result.apps})


class FailingDb(BenchSiteProvider):
    """A site where db's machine cannot be launched."""

    async def launch(self, inp: LaunchInput) -> Target:
        if inp.app.name == "db":
            self.counter.add("refused")
            raise PermanentProviderError(f"no capacity for db1 [site={self.site.name}]")
        return await super().launch(inp)


def chain_input(book) -> LaunchBatchInput:
    index = machine_index(book)
    return LaunchBatchInput(key="chain/key", site=site_ref(book, "dr"), source=site_ref(book, "primary"),
                            mode="recovery", apps=[app_ref(book, a, index) for a in book.apps],
                            after={"api": ["db"], "web": ["api"], "jobs": ["db"]})


def activities(tmp_path: Path, counter: Counter, provider: type[BenchSiteProvider] = BenchSiteProvider):
    return SiteActivities(Providers(tmp_path, [replace(LOCAL, factory=lambda site, _: provider(
        site, Timings(launch=0.1), counter))]))


async def test_the_activity_starts_each_app_once_what_it_waits_for_launched(tmp_path: Path) -> None:
    book = runbook("chain", CHAIN, ["db1", "api1", "web1", "jobs1"])
    progress = await ActivityEnvironment().run(activities(tmp_path, Counter()).launch_targets, chain_input(book))
    assert sorted(t.machine for t in progress.targets) == ["api1", "db1", "jobs1", "web1"]
    assert set(progress.began) == {"api", "web", "jobs"} and set(progress.ended) == {"db", "api"}
    assert progress.began["api"] >= progress.ended["db"] and progress.began["jobs"] >= progress.ended["db"]
    assert progress.began["web"] >= progress.ended["api"]


async def test_the_dependents_of_an_app_that_failed_to_launch_are_not_launched(tmp_path: Path) -> None:
    book = runbook("chain", CHAIN, ["db1", "api1", "web1", "jobs1"])
    counter = Counter()
    env = ActivityEnvironment()
    with pytest.raises(ApplicationError, match="db1") as raised:
        await env.run(activities(tmp_path, counter, FailingDb).launch_targets, chain_input(book))
    assert raised.value.non_retryable
    assert counter.calls["refused"] == 1 and "launch" not in counter.calls


async def test_a_retry_of_a_chained_batch_launches_only_what_is_unfinished(tmp_path: Path) -> None:
    # The first attempt launched db and api: the retry launches web and jobs, at once, as db and api are launched.
    book = runbook("chain", CHAIN, ["db1", "api1", "web1", "jobs1"])
    earlier = LaunchProgress(targets=[
        Target(key="chain/key", machine=m, app=a, site="dr", mode="recovery", target_id=f"bench-{m}")
        for a, m in (("db", "db1"), ("api", "api1"))])
    env = ActivityEnvironment()
    env.info = replace(env.info, heartbeat_details=[earlier.model_dump(mode="json")], attempt=2)
    counter = Counter()
    progress = await env.run(activities(tmp_path, counter).launch_targets, chain_input(book))
    assert counter.calls["launch"] == 2
    assert sorted(t.machine for t in progress.targets) == ["api1", "db1", "jobs1", "web1"]


def test_a_large_group_is_chained_in_activities_that_each_hold_tier_apps_with_all_their_dependents() -> None:
    """2,000 apps: 200 tier apps, each with 9 dependents; four activities of 500 machines, none waiting on another."""
    book = generate(2000, 1)
    [stage] = build(book, "failover").stages()
    order = [a for wave in stage.waves for a in wave.apps]
    now = [a for a in order if not a.depends_on]
    waiting = [a for a in order if a.depends_on]
    packed = chains(now, waiting, {a.app for a in order}, set(), lambda _: True)
    assert [len(p) for p in packed] == [500, 500, 500, 500]
    for apps in packed:
        assert all(d in apps for after in apps.values() for d in after)
        assert all(apps[a.app] == a.depends_on for a in waiting if a.app in apps)


def test_nothing_is_chained_to_an_app_that_is_not_plain_or_to_one_another_activity_launches() -> None:
    book = runbook("mixed", CHAIN, ["db1", "api1", "web1", "jobs1"])
    [stage] = build(book, "failover").stages()
    steps = {a.app: a for wave in stage.waves for a in wave.apps}
    members = set(steps)
    db, rest = [steps["db"]], [steps[a] for a in ("api", "web", "jobs")]
    assert chains(db, rest, members, set(), lambda a: a.app != "db") == []
    # db is healthy and jobs launching in an activity of its own: api and web go in one activity, unless web also
    # waits for jobs.
    api, web = steps["api"], steps["web"]
    assert chains([api], [web], members, {"db"}, lambda _: True) == [{"api": [], "web": ["api"]}]
    also_jobs = web.model_copy(update={"depends_on": ["api", "jobs"]})
    assert chains([api], [also_jobs], members, {"db"}, lambda _: True) == []


async def test_a_chained_launch_cancelled_mid_way_starts_nothing_after_it_ended(tmp_path: Path) -> None:
    """An abort while db launches: the activity ends cancelled, and api, jobs and web never start."""
    book = runbook("chain", CHAIN, ["db1", "api1", "web1", "jobs1"])
    counter = Counter()
    slow = SiteActivities(Providers(tmp_path, [replace(LOCAL, factory=lambda site, _: BenchSiteProvider(
        site, Timings(launch=0.5), counter))]))
    env = ActivityEnvironment()
    running = asyncio.ensure_future(env.run(slow.launch_targets, chain_input(book)))
    await eventually_async(lambda: counter.calls.get("launch"), 5, 0.01, "db's launch begun")
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    await asyncio.sleep(0.8)
    assert counter.calls["launch"] == 1
