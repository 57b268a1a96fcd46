"""Which processes use a folder or listen on a port: what a launch must not land on, and what a stop must end."""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from activities.sites.local import procfs

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
        return _shown(process.cmdline(), process.name())
    except psutil.Error:
        return "command unknown"


def _shown(argv: list[str], name: str) -> str:
    # one line, whatever an inline script holds
    text = " ".join(" ".join(argv).split()) or name or "command unknown"
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


@dataclass(frozen=True)
class Scan:
    """What one pass over the processes found: the users of each folder, the listener of each port listened on."""

    users: dict[Path, list[User]]
    listeners: dict[int, User]


def users_of(folder: Path, open_files: bool = True) -> list[User]:
    """Processes whose command line names the folder, that work in it, or (open_files) that hold a file in it open.

    Matching by path text needs no access to the folder itself, so this works on a site whose disk is unreadable.
    """
    return scan([folder], (), open_files).users[folder]


def listeners(ports: Collection[int]) -> dict[int, User]:
    """The process listening on each of these TCP ports of 127.0.0.1 (ports nobody listens on are left out)."""
    return scan((), ports).listeners


def scan(folders: Collection[Path], ports: Collection[int], open_files: bool = True) -> Scan:
    """`users_of` each folder and `listeners` of the ports, from one pass over the processes.

    The socket table is read before the processes, so a listener no process is found holding either closed its
    socket or was opened by a process that started meanwhile: scanned again, as a stranger must be named.
    """
    for _ in range(_SCANS - 1):
        found = _scan(folders, ports, open_files)
        if all(user.pid is not None for user in found.listeners.values()):
            return found
        time.sleep(0.05)
    return _scan(folders, ports, open_files)


def _scan(folders: Collection[Path], ports: Collection[int], open_files: bool) -> Scan:
    look = _Pass(folders, ports, open_files)
    own = os.getpid()
    for process in procfs.each():
        if look.done():
            break
        look.at(process, own=process.pid == own)
    return look.result()


class _Pass:
    """One pass over the processes: the users of each folder and the holders of the listening sockets so far."""

    def __init__(self, folders: Collection[Path], ports: Collection[int], open_files: bool):
        self.targets = {folder: os.path.abspath(folder) for folder in folders}
        self.sockets, self.open_files = procfs.listening(ports), open_files
        self.users: dict[Path, list[User]] = {folder: [] for folder in folders}
        self.holders: dict[int, int] = {}

    def done(self) -> bool:
        """Whether no process left can change the result: no folder asked about, every socket's holder found."""
        return not self.targets and len(self.holders) == len(self.sockets)

    def at(self, process: procfs.Process, own: bool) -> None:
        """Looks at one process; `own`: this worker's, no user of a folder (it is the one asking), maybe a listener."""
        argv, cwd = ([], None) if own else (process.argv(), process.cwd())
        uses = {folder: how for folder, target in self.targets.items() if (how := _named_or_works(argv, cwd, target))}
        unmatched = [folder for folder in self.targets if folder not in uses] if self.open_files and not own else []
        # a process's descriptors are read only when they can tell something: they cost most of a pass
        if unmatched or len(self.holders) < len(self.sockets):
            links = process.links()
            self._hold(process.pid, links)
            uses.update((folder, how) for folder in unmatched if (how := _opens(links, self.targets[folder])))
        if uses:
            shown = _shown(argv, process.name())
            for folder, how in uses.items():
                self.users[folder].append(User(process.pid, shown, how))

    def _hold(self, pid: int, links: list[str]) -> None:
        """Notes the process as the holder of each listening socket among its descriptors."""
        for link in links:
            inode = procfs.socket_inode(link)
            if inode is not None and inode in self.sockets:
                self.holders.setdefault(inode, pid)

    def result(self) -> Scan:
        """The users found, and the listener of each port; a socket no process was seen holding has no pid."""
        found: dict[int, User] = {}
        for inode, port in self.sockets.items():
            if port not in found or found[port].pid is None:
                found[port] = _user(self.holders.get(inode), f"it listens on 127.0.0.1:{port}")
        return Scan(self.users, found)


def _named_or_works(argv: list[str], cwd: str | None, target: str) -> str:
    """How a process uses the folder by its command line or working folder, or "" when it does neither."""
    if _names(argv, target):
        return f"its command line names {target}"
    if cwd and _under(cwd, target):
        return f"it works in {target}"
    return ""


def _opens(links: list[str], target: str) -> str:
    # every path a descriptor holds, folders too: a process walking the data folder uses it as much as a reader
    inside = target.rstrip(os.sep) + os.sep
    return f"it has files in {target} open" if any(link == target or link.startswith(inside) for link in links) else ""


def _user(pid: int | None, how: str) -> User:
    if pid is None:
        return User(None, "command unknown", how)
    try:
        return User(pid, command(psutil.Process(pid)), how)
    except psutil.Error:
        return User(pid, "command unknown", how)


def family(pid: int, parents: Mapping[int, int] | None = None) -> set[int]:
    """A process and all its descendants (empty when it is gone); `parents` (procfs.parents) when already read."""
    parents = procfs.parents() if parents is None else parents
    if pid not in parents:
        return set()
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    found, todo = set(), [pid]
    while todo:
        member = todo.pop()
        found.add(member)
        todo.extend(child for child in children.get(member, ()) if child not in found)
    return found


def family_listens(pid: int, port: int) -> bool:
    """Whether the process or one of its descendants listens on the TCP port of 127.0.0.1."""
    sockets = procfs.listening({port})
    if not sockets:
        return False
    # the process started most often listens itself: its family is looked up only when it does not
    return _holds_one(pid, sockets) or any(_holds_one(member, sockets) for member in family(pid) - {pid})


def _holds_one(pid: int, sockets: Collection[int]) -> bool:
    return any(procfs.socket_inode(link) in sockets for link in procfs.links_of(pid))
