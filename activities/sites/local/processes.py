"""Detached processes tracked by pid files, robust to stale pid files, pid reuse and a starter that goes away."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal

from standby.contracts import local_layout
from standby.contracts.local_layout import PidRecord

StopOutcome = Literal["stopped", "killed", "not running"]
LOCK_SECONDS = 30.0
KILL_SECONDS = 5.0

# Popen objects of the processes this one started, kept so that their exit is reaped (no zombies)
# and so that dropping them raises no "subprocess is still running" warning.
_children: dict[int, subprocess.Popen[bytes]] = {}


class ProcessError(Exception):
    """A process could not be started or stopped as asked."""


def _start_time(pid: int) -> int | None:
    """Start time of a live process (field 22 of /proc/<pid>/stat), or None when it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses, so count fields from its closing ')'
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _reap(pid: int) -> None:
    """Collects the exit status of a child of this process, so that it does not linger as a zombie."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        del _children[pid]


def _alive(record: PidRecord) -> bool:
    """Whether the process of the record still runs (a reused pid has another start time)."""
    alive = _start_time(record.pid) == record.start_time
    if not alive:
        # Reaped once seen gone, not before: a child that exits between a reap and the look at /proc would stay a
        # zombie, stopped as far as this answer goes but still holding its pid.
        _reap(record.pid)
    return alive


def read_pid_file(pid_file: Path) -> PidRecord | None:
    """The record in the pid file, or None when there is none (or half of one); ProcessError when it cannot be read.

    A folder that cannot be read is not a stopped process: the caller must not take it for one.
    """
    try:
        return local_layout.read_pid_file(pid_file)
    except OSError as error:
        raise ProcessError(f"cannot read {pid_file}: {error.strerror or error}") from error


def replace_atomically(path: Path, text: str) -> None:
    """Writes a file by renaming a complete temporary one over it, so readers never see half of it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _write_pid_file(pid_file: Path, record: PidRecord) -> None:
    replace_atomically(pid_file, json.dumps({"pid": record.pid, "start_time": record.start_time, "argv": record.argv}))


def copy_pid_file(source: Path, destination: Path) -> None:
    """Writes the record of one pid file into another (a launch keeps the record of the process it started)."""
    record = read_pid_file(source)
    if record is None:
        raise ProcessError(f"{source} names no process")
    _write_pid_file(destination, record)


@contextlib.contextmanager
def _locked(pid_file: Path, wait: float = LOCK_SECONDS) -> Iterator[None]:
    """Holds an exclusive lock beside the pid file, so two starters cannot both start the process.

    Waits at most `wait` seconds: a stop stuck elsewhere must surface as an error, not hang this one too.
    """
    try:
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        lock = open(pid_file.with_name(pid_file.name + ".lock"), "a")  # noqa: SIM115 (closed by the with below)
    except OSError as error:
        raise ProcessError(f"cannot lock {pid_file}: {error.strerror or error}") from error
    with lock:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ProcessError(f"{pid_file} stayed locked by another start or stop for {wait:.0f}s") from None
                time.sleep(0.05)
        yield


def running_pid(pid_file: Path) -> int | None:
    """The pid of the live process the pid file names, or None."""
    record = read_pid_file(pid_file)
    return record.pid if record is not None and _alive(record) else None


def is_running(pid_file: Path) -> bool:
    """Whether the pid file names a live process (not a stale file, not a reused pid)."""
    return running_pid(pid_file) is not None


def _spawn(argv: Sequence[str], log_file: Path, env: Mapping[str, str] | None, cwd: Path | None) -> int:
    """Starts argv in a session of its own, stdout and stderr appended to the log file."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as log:
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
            start_new_session=True,
        )
    _children[child.pid] = child
    return child.pid


def start_process(
    argv: Sequence[str],
    *,
    pid_file: Path,
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Starts argv detached and returns its pid; if the pid file names a live process with this argv, returns it."""
    with _locked(pid_file):
        record = read_pid_file(pid_file)
        if record is not None and _alive(record):
            if record.argv == tuple(argv):
                return record.pid
            raise ProcessError(f"{pid_file} names pid {record.pid}, running {list(record.argv)}; stop it first")
        pid = _spawn(argv, log_file, env, cwd)
        start_time = _start_time(pid)
        if start_time is None:
            raise ProcessError(f"{list(argv)} exited at once; see {log_file}")
        _write_pid_file(pid_file, PidRecord(pid, start_time, tuple(argv)))
        return pid


def _signal(record: PidRecord, signum: int) -> None:
    """Signals the process's whole session group, so that helpers it started stop with it."""
    try:
        if os.getpgid(record.pid) == record.pid:
            os.killpg(record.pid, signum)
        else:
            os.kill(record.pid, signum)
    except ProcessLookupError:
        return
    except PermissionError as error:
        raise ProcessError(f"cannot signal pid {record.pid}: {error.strerror}") from error


def _wait_gone(record: PidRecord, timeout: float) -> bool:
    """Waits up to timeout seconds for the process to end; whether it did."""
    deadline = time.monotonic() + timeout
    while _alive(record):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def _end(record: PidRecord, timeout: float) -> StopOutcome:
    """SIGTERM, up to timeout seconds, then SIGKILL; ProcessError when the process outlives both."""
    _signal(record, signal.SIGTERM)
    if _wait_gone(record, timeout):
        return "stopped"
    _signal(record, signal.SIGKILL)
    if not _wait_gone(record, KILL_SECONDS):
        raise ProcessError(f"pid {record.pid} survived SIGKILL for {KILL_SECONDS:.0f}s")
    return "killed"


def stop_process(pid_file: Path, timeout: float) -> StopOutcome:
    """Sends SIGTERM, waits up to timeout seconds, then SIGKILL; removes the pid file."""
    # read before locking, so that a stop neither creates folders nor hides why a folder cannot be read
    if read_pid_file(pid_file) is None:
        with contextlib.suppress(FileNotFoundError):
            pid_file.unlink()
        return "not running"
    with _locked(pid_file, wait=timeout + KILL_SECONDS + LOCK_SECONDS):
        record = read_pid_file(pid_file)
        if record is None or not _alive(record):
            pid_file.unlink(missing_ok=True)
            return "not running"
        outcome = _end(record, timeout)
        pid_file.unlink(missing_ok=True)
        return outcome


def stop_pid(pid: int, timeout: float) -> StopOutcome:
    """Stops a process known by pid alone (one no pid file names), as `stop_process` does."""
    start_time = _start_time(pid)
    if start_time is None:
        return "not running"
    return _end(PidRecord(pid, start_time, ()), timeout)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port right now."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as connection:
            # A port in the ephemeral range can connect to itself (TCP simultaneous open) with nothing listening.
            return connection.getsockname() != connection.getpeername()
    except OSError:
        return False


def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1") -> None:
    """Waits until something accepts TCP connections on host:port; raises TimeoutError after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not port_open(port, host):
        if time.monotonic() >= deadline:
            raise TimeoutError(f"nothing accepts connections on {host}:{port} after {timeout}s")
        time.sleep(0.02)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_block(size: int, low: int = 20000, high: int = 32000) -> int:
    """The first port of `size` consecutive free ports on 127.0.0.1, between `low` and `high`."""
    for _ in range(200):
        # Below Linux's ephemeral range (32768+), where a connect to a free port can connect to itself.
        base = random.randrange(low, high - size)
        if all(_port_free(base + offset) for offset in range(size)):
            return base
    raise RuntimeError("no free block of ports")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
