"""The recorder's failover whose groups recover inside the operation: no RecoverGroup child, one history.

A generated runbook of two small groups on the benchmark provider (nothing real is launched), through an owner
that starts knowing its apps protected; the first group holds at a prompt the operator answers on the operation.
"""

from dataclasses import replace
from pathlib import Path

from temporalio.client import Client

from activities import registry
from activities.sites.local import PROVIDER as LOCAL
from activities.sites.registry import Providers
from bench.provider import BenchSiteProvider, Counter, Timings
from bench.runbooks import generate
from standby import client as temporal
from standby import lifecycle
from standby.contracts.operations import OperationResult
from standby.contracts.state import OperationRequest
from standby.runbook import Runbook
from tests.histories.scenarios import answer, serving, settings

# Two groups of 10 apps, a first wave of one the others depend on: each group two batches, both inline.
APPS, GROUPS = 20, 2


def inline_runbook() -> Runbook:
    """The generated runbook with a prompt before its first group."""
    document = generate(APPS, GROUPS, name="inline").model_dump(mode="json", exclude_defaults=True)
    document["hooks"] = [{"at": "before_group:group1", "prompt": "Storage team: confirm the array is unlocked"}]
    return Runbook.model_validate(document)


async def inline(client: Client, queue: str, state: Path) -> list[str]:
    """The failover, its prompt answered; keeps the failover, which started no group child."""
    runbook = inline_runbook()
    bench = replace(LOCAL, factory=lambda site, _: BenchSiteProvider(site, Timings(), Counter()))
    config = settings(client, queue, state)
    async with serving(client, queue, registry.build(state, Providers(state, [bench])), sorted(runbook.sites)):
        owner = await temporal.start_owner(client, config, runbook, lifecycle.protected(runbook))
        started = await temporal.start(client, config, OperationRequest(operation="failover", runbook=runbook,
                                                                        yes=True, requested_by="operator"))
        handle = client.get_workflow_handle(started.workflow_id, result_type=OperationResult)
        await answer(handle, "continue")
        print(f"  inline failover of {APPS} apps: {(await handle.result()).state}")
        await owner.terminate("recorded")
    return [handle.id]
