"""The recorder's failover whose groups each recover in one launch activity: the dependents of each group's first
app start in that activity as it launches (workflows/ready.py), and the stop waves name the apps that simply
stopped (WavesProgress.stopped).

A generated runbook of two groups of ten plain apps on the benchmark provider (scenarios.bench_failover).
"""

from pathlib import Path

from temporalio.client import Client

from bench.runbooks import generate
from tests.histories.scenarios import bench_failover

# Two groups of 10 apps, the first of each the other nine depend on.
APPS, GROUPS = 20, 2


async def chained(client: Client, queue: str, state: Path) -> list[str]:
    """The failover; keeps it, which recovers its groups inline."""
    return [(await bench_failover(client, queue, state, generate(APPS, GROUPS, name="chained"))).id]
