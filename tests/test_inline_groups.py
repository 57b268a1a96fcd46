"""Small groups recover inside the operation workflow, large ones in RecoverGroup children.

The rule (workflows/group.py `fits_inline`): a group runs inline while the operation's history plus the group's
estimate stays under INLINE_GROUP_HISTORY. The sites use the benchmark provider from bench/ (calls of known
length): these tests check the orchestration, against a real Temporal dev server.
"""

import asyncio
import sys
from dataclasses import replace

import pytest
from click.testing import CliRunner
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.worker import Replayer

from activities import registry
from activities.sites.local import PROVIDER as LOCAL
from activities.sites.registry import Providers
from bench.provider import BenchSiteProvider, Counter, Record, Timings
from standby import client as temporal
from standby.cli import main
from standby.contracts.operations import GroupInput, OperationResult
from standby.contracts.sites import runbook_slice
from standby.converter import DATA_CONVERTER
from standby.plan import build
from standby.plan_steps import RecoverGroup
from standby.runbook import Runbook
from tests.conftest import serving
from tests.ops_helpers import failover_protected, owner_status, progress, stop_workflows, waiting_prompt
from workflows.group import INLINE_GROUP_HISTORY, history_estimate
from workflows.registry import WORKFLOWS

# The big group: LAYERS layers of WIDTH apps, each app waited for by one of the next layer. Its later batches could
# start one by one, so its estimate passes the limit with few machines; they launch in one batch per layer.
LAYERS, WIDTH = 10, 75


def two_groups(name: str, hooks: list[dict]) -> Runbook:
    """Group `small` (db), then group `big` (the layers), on two local sites."""
    big = {f"l{layer}a{i:02d}": {"machines": [f"l{layer}m{i:02d}"]} | (
        {"depends_on": [f"l{layer - 1}a{i:02d}"]} if layer else {}) for layer in range(LAYERS) for i in range(WIDTH)}
    apps = {"db": {"machines": ["db1"]}, **big}
    return Runbook.model_validate({
        "runbook": name, "sites": {"primary": {"provider": "local"}, "dr": {"provider": "local"}},
        "protection": {"source": "primary", "target": "dr"},
        "machines": {m: {} for app in apps.values() for m in app["machines"]},
        "apps": {app: {"start": ["true"], **spec} for app, spec in apps.items()},
        "groups": [{"name": "small", "apps": ["db"]}, {"name": "big", "apps": list(big)}], "hooks": hooks,
    })


def pair(name: str, hooks: list[dict], web: bool = False) -> Runbook:
    """One group: db, then api once db is healthy (and web once api is)."""
    apps = {"db": {"machines": ["db1"]}, "api": {"machines": ["api1"], "depends_on": ["db"]}}
    apps |= {"web": {"machines": ["web1"], "depends_on": ["api"]}} if web else {}
    return Runbook.model_validate({
        "runbook": name, "sites": {"primary": {"provider": "local"}, "dr": {"provider": "local"}},
        "protection": {"source": "primary", "target": "dr"},
        "machines": {m: {} for app in apps.values() for m in app["machines"]},
        "apps": {app: {"start": ["true"], **spec} for app, spec in apps.items()},
        "groups": [{"name": "all", "apps": list(apps)}], "hooks": hooks,
    })


async def standby(client, task_queue: str, *args: str) -> str:
    """The `standby` CLI in a thread (it runs its own event loop) against the test's server and queue."""
    env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host, "STANDBY_TASK_QUEUE": task_queue}
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)
    assert result.exit_code == 0, f"standby {' '.join(args)} exited {result.exit_code}:\n{result.output}"
    return result.output


def estimates(book: Runbook) -> dict[str, int]:
    """Each group's history estimate, from the failover's plan as the operation builds it."""
    plan = build(book, "failover")
    return {s.stage.group: history_estimate(GroupInput(key="k", runbook=runbook_slice(book, s.stage.apps()),
                                                       operation="failover", step=s))
            for s in plan.steps if isinstance(s, RecoverGroup)}


def children(events) -> list[tuple[str, str]]:
    """The (type, ID) of every child workflow a history started."""
    return [(a.workflow_type.name, a.workflow_id) for a in
            (e.start_child_workflow_execution_initiated_event_attributes for e in events
             if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED)]


def bench_sites(state_dir, record: Record | None = None) -> list:
    """Every activity, the sites served by the benchmark provider (calls take no time)."""
    bench = replace(LOCAL, factory=lambda site, _: BenchSiteProvider(site, Timings(), Counter(), record))
    return registry.build(state_dir, Providers(state_dir, [bench]))


async def test_a_small_group_recovers_inline_and_a_group_past_the_limit_in_a_child(
        client, task_queue, state_dir, tmp_path):
    book = two_groups("inline", [{"at": "before_group:small", "prompt": "array unlocked?"}])
    sizes = estimates(book)
    assert sizes["small"] < INLINE_GROUP_HISTORY < sizes["big"], sizes
    record = Record(tmp_path / "record.jsonl")
    handle = None
    async with serving(client, task_queue, bench_sites(state_dir, record)):
        try:
            handle = await failover_protected(client, book, task_queue)
            # The inline group's prompt waits on the operation itself: `standby continue` answers it there.
            held = await waiting_prompt(client, handle, "array unlocked?")
            assert held.id == handle.id and (await progress(handle)).child is None
            assert "continued: array unlocked?" in await standby(client, task_queue, "continue", handle.id)
            result: OperationResult = await handle.result()
            truth = (await owner_status(client, book)).truth.apps
        finally:
            await stop_workflows(handle, client.get_workflow_handle(temporal.owner_id(book.runbook)))
    assert result.state == "failed_over" and result.apps_total == len(book.apps)
    assert sorted(r["machine"] for r in record.made()) == sorted(book.machines)
    assert {app for app, state in truth.items() if state.serving == "dr"} == set(book.apps)

    history = await handle.fetch_history()
    assert children(history.events) == [("RecoverGroup", f"{handle.id}/big")]
    launches = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                and e.activity_task_scheduled_event_attributes.activity_type.name == "launch_targets"]
    assert len(launches) == 1, "the small group's one batch launches in the operation"
    # The inline group's steps and its prompt's gate are on the operation's own timeline.
    steps = {s.name: s for s in result.steps if s.group == "small"}
    assert steps["launch db on dr"].status == "done"
    [prompt] = [s for name, s in steps.items() if name.startswith("prompt (before_group:small)")]
    assert prompt.status == "done" and prompt.gate is not None
    assert [g.allowed for g in result.gates if g.gate == "continue"] == [True]
    # The big child returned its apps for the operation to report: it signalled nobody itself.
    child = (await client.get_workflow_handle(f"{handle.id}/big").fetch_history()).events
    assert not any(e.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED for e in child)
    # The operation's history, inline group and all, replays against the workflow code that made it.
    replayed = await Replayer(workflows=WORKFLOWS, data_converter=DATA_CONVERTER).replay_workflow(history)
    assert replayed.replay_failure is None


async def test_an_inline_group_that_fails_halfway_tells_the_owner_what_it_recovered(client, task_queue, state_dir):
    # api's post-launch hook fails after db recovered: the owner must know db serves at dr, and api does not.
    failing = [sys.executable, "-c", "import sys; sys.exit(3)"]
    book = pair("halfway", [{"at": "post_launch:api", "run": failing, "on_failure": "abort"}])
    handle = None
    async with serving(client, task_queue, bench_sites(state_dir)):
        try:
            handle = await failover_protected(client, book, task_queue)
            with pytest.raises(WorkflowFailureError):
                await handle.result()
            truth = (await owner_status(client, book)).truth.apps
            shown = await progress(handle)
        finally:
            await stop_workflows(handle, client.get_workflow_handle(temporal.owner_id(book.runbook)))
    assert children((await handle.fetch_history()).events) == []
    assert truth["db"].serving == "dr" and truth["api"].serving != "dr"
    assert shown.groups == {"all": "failed"} and shown.apps["db"] == "recovered"
    assert [s.status for s in shown.steps if s.name.startswith("command (post_launch:api)")] == ["failed"]


async def test_an_abort_while_an_inline_group_waits_ends_its_batches_and_leaves_a_true_state(
        client, task_queue, state_dir, tmp_path):
    # api's pre-launch prompt holds its batch while web waits for api: the abort must end that batch too (its prompt
    # step cancelled, api never launched), and the owner must know db serves at dr.
    book = pair("aborted", [{"at": "pre_launch:api", "prompt": "hold api"}], web=True)
    record = Record(tmp_path / "record.jsonl")
    handle = None
    async with serving(client, task_queue, bench_sites(state_dir, record)):
        try:
            handle = await failover_protected(client, book, task_queue)
            assert (await waiting_prompt(client, handle, "hold api")).id == handle.id
            assert "stops, its cleanup runs" in await standby(client, task_queue, "abort", handle.id)
            result: OperationResult = await handle.result()
            truth = (await owner_status(client, book)).truth.apps
            shown = await progress(handle)
        finally:
            await stop_workflows(handle, client.get_workflow_handle(temporal.owner_id(book.runbook)))
    assert result.state == "cancelled" and shown.groups == {"all": "failed"}
    assert [s.status for s in result.steps if s.name.startswith("prompt (pre_launch:api)")] == ["cancelled"]
    assert [r["machine"] for r in record.made()] == ["db1"]
    assert truth["db"].serving == "dr" and truth["api"].serving != "dr" and truth["web"].serving != "dr"
