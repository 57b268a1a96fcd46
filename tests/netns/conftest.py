"""Fixtures of the tests that cut the network: they run only in a network namespace of their own.

tests/test_availability.py starts each of them with `unshare -n`; here the namespace is checked (only a
loopback interface), its loopback brought up, and a pair of sites started on it.
"""

import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from bench.cluster import Cluster, free_ports, pair_runbook
from bench.partition import Partition

NETNS = "STANDBY_NETNS"


@pytest.fixture(scope="session", autouse=True)
def private_network() -> None:
    """Refuse to run on a shared network: nftables rules here would cut other tests' traffic."""
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if os.environ.get(NETNS) != "1" or interfaces != ["lo"]:
        pytest.fail(f"tests/netns runs inside `unshare -n` only (through tests/test_availability.py); "
                    f"this namespace has {', '.join(interfaces)}")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


@pytest.fixture
def partition():
    """nftables partitions of this namespace's loopback, removed after the test."""
    cut = Partition()
    yield cut
    cut.close()


@pytest.fixture
async def pair(private_network, temporal_env, tmp_path: Path, state_dir: Path):
    """`await pair(**fields)`: the shop-pair runbook (its pair's fields overridden) protected by two site workers."""
    clusters: list[Cluster] = []

    async def start(**fields) -> Cluster:
        ports = free_ports()
        runbook = pair_runbook(tmp_path, ports, **fields)
        cluster = Cluster(temporal_env.client, f"netns-{uuid.uuid4()}", state_dir, runbook, ports, tmp_path)
        clusters.append(cluster)
        await cluster.start()
        await cluster.protect()
        return cluster

    yield start
    for cluster in clusters:
        await cluster.close()
