"""A failover's drain and the replication pause after it run as one activity at the target site; an abort while it
runs waits for its answer, so the owner's truth says what the target did.

The sites use the benchmark provider from bench/ (a drain of known length) against a real Temporal dev server.
"""

from dataclasses import replace

from temporalio.api.enums.v1 import EventType

from activities import registry
from activities.sites.local import PROVIDER as LOCAL
from activities.sites.registry import Providers
from bench.provider import BenchSiteProvider, Counter, Record, Timings
from standby import client as temporal
from standby.contracts.operations import OperationResult
from tests.conftest import serving
from tests.helpers import eventually_async
from tests.ops_helpers import failover_protected, owner_status, progress, stop_workflows
from tests.test_inline_groups import pair, standby

DRAIN, PAUSE = "drain replication primary -> dr (if the source answered)", "pause replication primary -> dr"


def sites(state_dir, record: Record, drain: float) -> list:
    bench = replace(LOCAL, factory=lambda site, _: BenchSiteProvider(site, Timings(replicate=drain), Counter(), record))
    return registry.build(state_dir, Providers(state_dir, [bench]))


def activity_names(events) -> list[str]:
    return [e.activity_task_scheduled_event_attributes.activity_type.name for e in events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]


async def test_the_drain_and_the_pause_are_one_activity_and_two_steps(client, task_queue, state_dir, tmp_path):
    book = pair("fused", [])
    handle = None
    async with serving(client, task_queue, sites(state_dir, Record(tmp_path / "made.jsonl"), 0.0)):
        try:
            handle = await failover_protected(client, book, task_queue)
            result: OperationResult = await handle.result()
            truth = (await owner_status(client, book)).truth.apps
        finally:
            await stop_workflows(handle, client.get_workflow_handle(temporal.owner_id(book.runbook)))
    names = activity_names((await handle.fetch_history()).events)
    assert names.count("drain_then_set_direction") == 1
    assert "replicate" not in names and "set_direction" not in names
    steps = {s.name: s for s in result.steps}
    assert steps[DRAIN].status == steps[PAUSE].status == "done"
    assert steps[DRAIN].detail == "every machine continuous"
    assert result.state == "failed_over" and not any(state.replicating for state in truth.values())


async def test_an_abort_during_the_drain_waits_for_the_pause_and_the_owner_hears_of_it(
        client, task_queue, state_dir, tmp_path):
    book = pair("fused-abort", [])
    record = Record(tmp_path / "made.jsonl")
    handle = None
    async with serving(client, task_queue, sites(state_dir, record, 2.0)):
        try:
            handle = await failover_protected(client, book, task_queue)
            await eventually_async(lambda: _current(handle, PAUSE), 30, 0.05, "the drain under way")
            assert "stops, its cleanup runs" in await standby(client, task_queue, "abort", handle.id)
            result: OperationResult = await handle.result()
            truth = (await owner_status(client, book)).truth.apps
        finally:
            await stop_workflows(handle, client.get_workflow_handle(temporal.owner_id(book.runbook)))
    assert result.state == "cancelled"
    steps = {s.name: s for s in result.steps}
    # The activity's answer came before the abort went on: both steps done, replication paused on the record.
    assert steps[DRAIN].status == steps[PAUSE].status == "done"
    assert not any(state.replicating for state in truth.values())
    assert record.made() == [], "nothing launched after the abort"


async def _current(handle, label: str) -> bool:
    return (await progress(handle)).current == label
