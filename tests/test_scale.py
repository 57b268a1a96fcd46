"""A 2,000-machine failover keeps every history small and runs a handful of activities: machines go in batches.

The sites use the benchmark provider from bench/ (every call a no-op): this test
checks the orchestration's structure, which does not depend on the infrastructure,
and 2,000 real processes are more than a CI machine should start.
"""

from dataclasses import replace

from activities import registry
from activities.sites.local import PROVIDER as LOCAL
from activities.sites.registry import Providers
from bench.histories import event_counts, history_counts
from bench.provider import BenchSiteProvider, Counter, Timings
from bench.runbooks import generate
from standby import client as temporal
from tests.conftest import serving
from tests.ops_helpers import failover_protected, stop_workflows

MACHINES, GROUPS = 2000, 5


async def test_failover_of_2000_machines_keeps_every_history_under_10000_events(client, task_queue, state_dir):
    runbook = generate(MACHINES, GROUPS, name="scale")
    counter = Counter()
    bench = replace(LOCAL, factory=lambda site, _: BenchSiteProvider(site, Timings(), counter))
    providers = Providers(state_dir, [bench])
    async with serving(client, task_queue, registry.build(state_dir, providers)):
        handle = await failover_protected(client, runbook, task_queue)
        try:
            result = await handle.result()
        finally:
            await stop_workflows(client.get_workflow_handle(temporal.owner_id(runbook.runbook)))
    assert result.state == "failed_over"
    assert result.apps_total == MACHINES and len(result.apps) == 1000
    assert counter.calls["launch"] == MACHINES
    assert counter.calls["stop_app"] == MACHINES
    # One activity per batch of up to 200 machines (stop, launch), not per machine nor per app.
    activities = sum((await history_counts(client, handle.id)).activities.values())
    assert activities < MACHINES / 20, f"{activities} activities for {MACHINES} machines"
    # From the owner: its own history and every workflow under it.
    counts = await event_counts(client, temporal.owner_id(runbook.runbook))
    print("largest histories:", sorted(counts.items(), key=lambda kv: -kv[1])[:3], "workflows:", len(counts))
    assert max(counts.values()) < 10_240
