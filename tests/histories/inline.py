"""The recorder's failover whose groups recover inside the operation: no RecoverGroup child, one history.

A generated runbook of two small groups on the benchmark provider (scenarios.bench_failover); the first group
holds at a prompt the operator answers on the operation.
"""

from pathlib import Path

from temporalio.client import Client

from bench.runbooks import generate
from standby.runbook import Runbook
from tests.histories.scenarios import bench_failover

# Two groups of 10 apps, a first wave of one the others depend on: each group two batches, both inline.
APPS, GROUPS = 20, 2


def inline_runbook() -> Runbook:
    """The generated runbook with a prompt before its first group."""
    document = generate(APPS, GROUPS, name="inline").model_dump(mode="json", exclude_defaults=True)
    document["hooks"] = [{"at": "before_group:group1", "prompt": "Storage team: confirm the array is unlocked"}]
    return Runbook.model_validate(document)


async def inline(client: Client, queue: str, state: Path) -> list[str]:
    """The failover, its prompt answered; keeps the failover, which started no group child."""
    return [(await bench_failover(client, queue, state, inline_runbook(), ("continue",))).id]
