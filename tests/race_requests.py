"""Two requesters racing for one runbook: each a process of its own with its own Temporal client, started once.

For each attempt the test sends both of them a request; they meet at a barrier and ask the runbook's owner at the
same instant, as `standby <operation>` does (`standby.client.start`), and send back what the owner answered.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Barrier
from pathlib import Path

from standby import client as temporal
from standby.config import Settings
from standby.contracts.state import OperationRequest
from standby.loader import load


@dataclass(frozen=True)
class Ask:
    """One request of one attempt."""

    operation: str
    only: list[str]


@dataclass(frozen=True)
class Answer:
    """What the owner answered: the started operation's workflow ID, or the refusal; when the request left."""

    operation: str
    started: str | None
    refused: str | None
    sent: float


def serve(address: str, task_queue: str, runbook_file: str, barrier: Barrier, conn: Connection) -> None:
    """The requester process: connect once, then answer each Ask sent on `conn` until None arrives."""
    asyncio.run(_serve(address, task_queue, Path(runbook_file), barrier, conn))
    temporal.exit_process(0)  # as the CLI ends: past the Temporal client's teardown (temporalio/sdk-python#300)


async def _serve(address: str, task_queue: str, runbook_file: Path, barrier: Barrier, conn: Connection) -> None:
    settings = replace(Settings.from_env(), temporal_address=address, task_queue=task_queue)
    client = await temporal.connect(settings)
    runbook = load(runbook_file)
    conn.send("ready")
    while (ask := conn.recv()) is not None:
        request = OperationRequest(operation=ask.operation, runbook=runbook, only=ask.only, force=True,
                                   requested_by="tester")
        # Both processes leave the barrier together; the owner alone decides which request wins.
        barrier.wait()
        sent = time.monotonic()
        try:
            started = await temporal.start(client, settings, request)
            conn.send(Answer(ask.operation, started.workflow_id, None, sent))
        except temporal.Refused as refused:
            conn.send(Answer(ask.operation, None, str(refused), sent))


class Requesters:
    """The two requester processes of a test."""

    def __init__(self, address: str, task_queue: str, runbook_file: Path):
        context = multiprocessing.get_context("spawn")  # a fresh interpreter: no state shared with the test's
        # Kept for the processes' lifetime: the semaphores behind it go when the last reference here goes.
        self._barrier = barrier = context.Barrier(2)
        self._conns, self._processes = [], []
        for _ in range(2):
            mine, theirs = context.Pipe()
            process = context.Process(target=serve, args=(address, task_queue, str(runbook_file), barrier, theirs),
                                      daemon=True)
            process.start()
            self._conns.append(mine)
            self._processes.append(process)

    async def ready(self, timeout: float = 60) -> None:
        """Both connected and waiting for their first request."""
        for conn in self._conns:
            assert await asyncio.to_thread(conn.poll, timeout), "a requester did not connect to Temporal"
            assert conn.recv() == "ready"

    async def race(self, first: Ask, second: Ask, timeout: float = 60) -> list[Answer]:
        """`first` from one process, `second` from the other, at the same instant; both answers."""
        for conn, ask in zip(self._conns, (first, second), strict=True):
            conn.send(ask)
        answers = []
        for conn in self._conns:
            assert await asyncio.to_thread(conn.poll, timeout), "a requester did not answer"
            answers.append(conn.recv())
        return answers

    def close(self) -> None:
        """Let both processes end, and make sure they did."""
        for conn in self._conns:
            conn.send(None)
        for process in self._processes:
            process.join(10)
            if process.is_alive():
                process.kill()
