"""Which processes use a folder or listen on a port: what a launch must not land on, and what a stop must end."""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

# addresses whose listener takes a port of 127.0.0.1
_LOCAL = {"127.0.0.1", "0.0.0.0", "::", "::1", "::ffff:127.0.0.1"}
_SHOWN = 160
_SCANS = 3


@dataclass(frozen=True)
class User:
    """A process found using a folder or a port, and how."""

    pid: int | None
    command: str
    how: str

    def __str__(self) -> str:
        """`pid 4242 (python -m sampleapp.db --port 18100 ...)`."""
        who = f"pid {self.pid}" if self.pid is not None else "a process this worker may not inspect"
        return f"{who} ({self.command})"


def command(process: psutil.Process) -> str:
    """A process's command line, shortened for messages."""
    try:
        # one line, whatever an inline script holds
        text = " ".join(" ".join(process.cmdline()).split()) or process.name()
    except psutil.Error:
        return "command unknown"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def argv(pid: int) -> list[str]:
    """A process's whole command line (empty when it is gone or hidden)."""
    try:
        return psutil.Process(pid).cmdline()
    except psutil.Error:
        return []


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _names(argv: list[str], folder: str) -> bool:
    """Whether a command line names the folder or a path under it (also as `--option=PATH`)."""
    return any(_under(arg, folder) or _under(arg.partition("=")[2], folder) for arg in argv)


def _opens(process: psutil.Process, folder: str) -> bool:
    try:
        return any(_under(f.path, folder) for f in process.open_files())
    except psutil.Error:
        return False


def _others() -> Iterator[psutil.Process]:
    """Every live process but this one, with its command line and working folder read once."""
    for process in psutil.process_iter(["cmdline", "cwd", "status"]):
        if process.pid != os.getpid() and process.info["status"] != psutil.STATUS_ZOMBIE:
            yield process


def users_of(folder: Path, open_files: bool = True) -> list[User]:
    """Processes whose command line names the folder, that work in it, or (open_files) that hold a file in it open.

    Matching by path text needs no access to the folder itself, so this works on a site whose disk is unreadable.
    """
    target = os.path.abspath(folder)
    found = []
    for process in _others():
        argv, cwd = process.info["cmdline"] or [], process.info["cwd"]
        if _names(argv, target):
            found.append(User(process.pid, command(process), f"its command line names {target}"))
        elif cwd and _under(cwd, target):
            found.append(User(process.pid, command(process), f"it works in {target}"))
        elif open_files and _opens(process, target):
            found.append(User(process.pid, command(process), f"it has files in {target} open"))
    return found


def listeners(ports: Collection[int]) -> dict[int, User]:
    """The process listening on each of these TCP ports of 127.0.0.1 (ports nobody listens on are left out).

    psutil maps sockets to processes from two reads, so a socket opened in between has no pid: scanned again.
    """
    for _ in range(_SCANS - 1):
        found = _listeners(ports)
        if all(user.pid is not None for user in found.values()):
            return found
        time.sleep(0.05)
    return _listeners(ports)


def _listeners(ports: Collection[int]) -> dict[int, User]:
    found = {}
    for connection in psutil.net_connections(kind="tcp"):
        address = connection.laddr
        if connection.status == psutil.CONN_LISTEN and address and address.port in ports and address.ip in _LOCAL:
            found[address.port] = _user(connection.pid, f"it listens on 127.0.0.1:{address.port}")
    return found


def _user(pid: int | None, how: str) -> User:
    if pid is None:
        return User(None, "command unknown", how)
    try:
        return User(pid, command(psutil.Process(pid)), how)
    except psutil.Error:
        return User(pid, "command unknown", how)


def family(pid: int) -> set[int]:
    """A process and all its descendants (empty when it is gone)."""
    try:
        process = psutil.Process(pid)
        return {pid, *(child.pid for child in process.children(recursive=True))}
    except psutil.Error:
        return set()


def family_listens(pid: int, port: int) -> bool:
    """Whether the process or one of its descendants listens on the TCP port."""
    for member in family(pid):
        try:
            connections = psutil.Process(member).net_connections(kind="tcp")
        except psutil.Error:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in connections):
            return True
    return False
