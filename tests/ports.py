"""Free ports for tests: each pytest-xdist worker its own range, and no port handed out twice.

One module, whichever way it is imported (pytest loads conftest.py as `conftest`, test modules import
`tests.conftest`), so every test of a worker shares the record of what was handed out.
"""

import os

from activities.sites.local import processes

# Ports this test process handed out: a free block is only free until something binds it, and a test asks for
# several blocks before it starts anything (a shop's primary, dr, drill and public ports), so two of them could be
# one block and its db at dr answer on web's public port.
_HANDED: set[int] = set()


def free_block(size: int) -> int:
    """The first port of `size` consecutive free ports on 127.0.0.1, in this pytest-xdist worker's own range (so
    that two workers never pick one block at once), none of them handed out before by this worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    count = max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), 1)
    span = 12000 // count
    low = 20000 + span * (int(worker.removeprefix("gw") or 0) % count)
    if len(_HANDED) > span // 2:
        _HANDED.clear()
    while True:
        base = processes.free_block(size, low, low + span)
        block = set(range(base, base + size))
        if not block & _HANDED:
            _HANDED.update(block)
            return base
