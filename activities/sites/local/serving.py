"""Who serves a machine at a site, and when a started process counts as serving: only when it holds the port itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from activities.sites.local import usage
from activities.sites.local.processes import port_open
from standby.contracts.sites import ServingProcess


class Refused(Exception):
    """Starting or restoring would land on a process this call did not start: retrying cannot help."""


class NotServing(Exception):
    """The started process did not come to hold its port in time, or it exited."""


def servers(data: Path, port: int) -> list[usage.User]:
    """Processes serving a machine: listening on its port, or naming or working in its data folder.

    rsync is left out: a replication pass reading the folder serves nothing.
    """
    return servers_of([(data, port)])[0]


def servers_of(machines: Sequence[tuple[Path, int]]) -> list[list[usage.User]]:
    """`servers` of several machines (data folder, port), from one pass over the processes."""
    found = usage.scan([data for data, _ in machines], {port for _, port in machines}, open_files=False)
    return [_with_listener([user for user in found.users[data] if not _is_rsync(user)], found.listeners.get(port))
            for data, port in machines]


def _is_rsync(user: usage.User) -> bool:
    return user.command.split(" ", 1)[0].rsplit("/", 1)[-1] == "rsync"


def in_use(data: Path, port: int) -> list[usage.User]:
    """Everything that makes a data folder unsafe to restore into or start on: its users (open files too), its port."""
    found = usage.scan([data], {port})
    return _with_listener(found.users[data], found.listeners.get(port))


def _with_listener(users: list[usage.User], listener: usage.User | None) -> list[usage.User]:
    """The users and the port's listener, each process once."""
    found = {user.pid: user for user in users}
    if listener is not None:
        found.setdefault(listener.pid, listener)
    return list(found.values())


def report(users: list[usage.User], family: set[int]) -> list[ServingProcess]:
    """The servers as status shows them; those outside `family` (the pid file's process and its own) are foreign."""
    return [ServingProcess(pid=user.pid, command=user.command, started_by_standby=user.pid in family)
            for user in users]


def wait_serving(pid: int, port: int, timeout: float, alive: Callable[[], bool]) -> None:
    """Waits until the process (or a child of it) listens on the port and answers there.

    Refused when another process holds the port: a stranger that answers is never taken for this one.
    """
    deadline = time.monotonic() + timeout
    while True:
        # A connect costs microseconds, psutil's socket tables tens of milliseconds on a busy host (every socket
        # of every process): they are read once the port answers, to tell whose it is.
        stranger = None
        if port_open(port):
            if usage.family_listens(pid, port):
                return
            stranger = usage.listeners({port}).get(port)
        # no pid: a socket opened while psutil took its snapshot (maybe ours); the next round tells
        if stranger is not None and stranger.pid is not None and stranger.pid not in usage.family(pid):
            raise Refused(f"port {port} is held by {stranger}, not by pid {pid} that was started for it")
        if not alive():
            raise NotServing(f"pid {pid} exited before it listened on port {port}")
        if time.monotonic() >= deadline:
            stranger = stranger or usage.listeners({port}).get(port)
            holder = f"; {stranger} holds it" if stranger is not None else ""
            raise NotServing(f"pid {pid} does not listen on port {port} after {timeout:.0f}s{holder}")
        time.sleep(0.01)
