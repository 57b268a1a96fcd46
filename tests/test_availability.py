"""Each test of tests/netns/availability.py in a network namespace of its own, where nftables may cut the loopback.

A test there runs its own Temporal dev server, site workers, shop and witnesses on that namespace's 127.0.0.1;
nothing it does reaches this namespace's network.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, require_binary

ROOT = Path(__file__).resolve().parent.parent
CASES = ["test_killing_the_active_site_fails_over_automatically",
         "test_managed_failover_alerts_and_waits_for_an_operator",
         "test_a_passive_cut_off_from_everything_does_not_take_over",
         "test_an_active_cut_off_stops_serving_before_the_passive_takes_over",
         "test_random_partitions_each_healed_leave_exactly_one_site_serving"]


def _namespaces() -> None:
    require_binary("unshare", "util-linux")
    require_binary("nft", "the Debian package nftables (scripts/install --test)")
    if os.geteuid() != 0:
        message = "a network namespace and nftables need root (CI runs as root)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.parametrize("case", CASES)
def test_in_a_network_namespace(case: str) -> None:
    _namespaces()
    argv = ["unshare", "-n", "--", sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-s",
            f"tests/netns/availability.py::{case}"]
    done = subprocess.run(argv, cwd=ROOT, env={**os.environ, "STANDBY_NETNS": "1"}, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
