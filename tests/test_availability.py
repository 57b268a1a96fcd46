"""The tests of tests/netns/availability.py in a network namespace of their own, where nftables may cut the loopback.

They run one Temporal dev server, and each test its own site workers, shop and witnesses, on that namespace's
127.0.0.1; nothing they do reaches this namespace's network.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, require_binary

ROOT = Path(__file__).resolve().parent.parent



def _namespaces() -> None:
    require_binary("unshare", "util-linux")
    require_binary("nft", "the Debian package nftables (scripts/install --test)")
    if os.geteuid() != 0:
        message = "a network namespace and nftables need root (CI runs as root)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def test_in_a_network_namespace() -> None:
    """Every test of tests/netns in one namespace: one dev server for all of them, each with its own pair."""
    _namespaces()
    # One process (-n 0): the tests share the namespace's one nftables table, which each removes at its end.
    argv = ["unshare", "-n", "--", sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "-s",
            "tests/netns/availability.py"]
    done = subprocess.run(argv, cwd=ROOT, env={**os.environ, "STANDBY_NETNS": "1"}, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-3000:]
