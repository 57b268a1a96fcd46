"""Detached processes with pid files: idempotent start, SIGKILL fallback, stale files and reused pids."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.sites.local.processes import (
    ProcessError,
    free_port,
    is_running,
    read_pid_file,
    running_pid,
    start_process,
    stop_process,
    wait_for_port,
)

ROOT = Path(__file__).resolve().parents[2]
IGNORES_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); time.sleep(60)"
)


def sleeper(marker: str) -> list[str]:
    """A process that runs for a minute, findable by the marker in its command line."""
    return [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)", marker]


def pids_with(marker: str) -> list[int]:
    """The live processes whose command line holds the marker."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_until(condition: object, timeout: float = 5.0) -> None:
    """Waits until the callable returns true; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Path]:
    """A folder for pid and log files; whatever they name is stopped after the test."""
    yield tmp_path
    for pid_file in tmp_path.glob("*.pid"):
        stop_process(pid_file, timeout=1)


def test_starting_twice_with_one_pid_file_runs_one_process(run: Path) -> None:
    marker = f"marker-{uuid.uuid4()}"
    first = start_process(sleeper(marker), pid_file=run / "a.pid", log_file=run / "a.log")
    second = start_process(sleeper(marker), pid_file=run / "a.pid", log_file=run / "a.log")
    assert first == second
    # right after exec the kernel may show an empty command line for a moment
    wait_until(lambda: pids_with(marker) == [first])
    assert is_running(run / "a.pid")
    wait_until(lambda: (run / "a.log").read_text() == "up\n")


def test_a_live_process_with_another_argv_is_not_replaced(run: Path) -> None:
    start_process(sleeper("one"), pid_file=run / "a.pid", log_file=run / "a.log")
    with pytest.raises(ProcessError, match="stop it first"):
        start_process(sleeper("two"), pid_file=run / "a.pid", log_file=run / "a.log")


def test_stop_sends_sigterm_and_removes_the_pid_file(run: Path) -> None:
    pid = start_process(sleeper("stop"), pid_file=run / "a.pid", log_file=run / "a.log")
    assert stop_process(run / "a.pid", timeout=5) == "stopped"
    assert not (run / "a.pid").exists()
    assert not Path(f"/proc/{pid}").exists()
    assert stop_process(run / "a.pid", timeout=5) == "not running"


def test_stop_falls_back_to_sigkill_for_a_process_that_ignores_sigterm(run: Path) -> None:
    argv = [sys.executable, "-c", IGNORES_SIGTERM]
    pid = start_process(argv, pid_file=run / "a.pid", log_file=run / "a.log")
    wait_until(lambda: (run / "a.log").read_text() == "ready\n")
    began = time.monotonic()
    assert stop_process(run / "a.pid", timeout=0.3) == "killed"
    assert 0.3 <= time.monotonic() - began < 3
    assert not Path(f"/proc/{pid}").exists() and not is_running(run / "a.pid")


def test_a_stale_pid_file_is_not_running_and_is_replaced(run: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (run / "a.pid").write_text(json.dumps({"pid": int(dead.stdout), "start_time": 1, "argv": sleeper("x")}))
    assert not is_running(run / "a.pid")
    pid = start_process(sleeper("x"), pid_file=run / "a.pid", log_file=run / "a.log")
    assert pid != int(dead.stdout) and running_pid(run / "a.pid") == pid


def test_a_reused_pid_is_not_taken_for_the_process(run: Path) -> None:
    # this very test process stands in for an unrelated process that got the recorded pid
    (run / "a.pid").write_text(json.dumps({"pid": os.getpid(), "start_time": 1, "argv": sleeper("x")}))
    assert not is_running(run / "a.pid")
    assert stop_process(run / "a.pid", timeout=1) == "not running"
    assert not (run / "a.pid").exists()


def test_a_process_survives_its_starter(run: Path) -> None:
    starter = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from activities.sites.local.processes import start_process
        pid_file, log_file = Path({str(run / "a.pid")!r}), Path({str(run / "a.log")!r})
        print(start_process({sleeper("orphan")!r}, pid_file=pid_file, log_file=log_file))
        """
    )
    done = subprocess.run([sys.executable, "-c", starter], capture_output=True, text=True, cwd=ROOT, check=True)
    pid = int(done.stdout)
    assert running_pid(run / "a.pid") == pid
    record = read_pid_file(run / "a.pid")
    assert record is not None and record.argv == tuple(sleeper("orphan"))
    assert os.getsid(pid) == pid  # a session of its own: the starter's terminal signals do not reach it


def test_wait_for_port(run: Path) -> None:
    port = free_port()
    with pytest.raises(TimeoutError, match=str(port)):
        wait_for_port(port, timeout=0.2)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        wait_for_port(port, timeout=1)
