"""What Linux's /proc tells of this host's processes and listening sockets, read lean for a pass over every process.

psutil reads more than a live-data check needs: its open files stat each descriptor's path and read its fdinfo, and
its socket table maps every descriptor of every process to a socket even when nobody listens on the ports asked
about. On a host with a few hundred processes that made a launch's check cost hundreds of milliseconds; this reads
each process's command line, working folder and descriptor targets once, relative to its /proc folder.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import sys
from collections.abc import Collection, Iterator

PROC = "/proc"
_LISTEN = "0A"
# addresses whose listener takes a port of 127.0.0.1
_LOCAL = {ipaddress.ip_address(a) for a in ("127.0.0.1", "0.0.0.0", "::", "::1", "::ffff:127.0.0.1")}
_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY
# A process gone meanwhile, or one this process may not look into: anything else (out of descriptors, say) must
# fail the caller, never pass for "nobody uses the folder".
_GONE_OR_HIDDEN = {errno.ENOENT, errno.ESRCH, errno.EACCES, errno.EPERM}


@contextlib.contextmanager
def _tolerant() -> Iterator[None]:
    """Lets a read of a process that is gone or hidden end quietly; the caller's default stands."""
    try:
        yield
    except OSError as error:
        if error.errno not in _GONE_OR_HIDDEN:
            raise


class Process:
    """One live process, read through a descriptor of its /proc folder (so a reused pid cannot mix two processes)."""

    def __init__(self, pid: int, folder: int):
        self.pid, self._folder = pid, folder

    def argv(self) -> list[str]:
        """Its command line; empty for a kernel thread, a zombie or a process gone meanwhile."""
        raw = self._read("cmdline")
        return [arg.decode(errors="surrogateescape") for arg in raw.split(b"\0")[:-1]] if raw else []

    def cwd(self) -> str | None:
        """Its working folder, or None when it is gone or this process may not see it."""
        return self._link("cwd", self._folder)

    def links(self) -> list[str]:
        """What its file descriptors point at: paths, `socket:[inode]`, `pipe:[inode]`; empty when hidden or gone."""
        with _tolerant():
            folder = os.open("fd", _DIRECTORY, dir_fd=self._folder)
            try:
                targets = (self._link(name, folder) for name in os.listdir(folder))
                return [target for target in targets if target is not None]
            finally:
                os.close(folder)
        return []

    def name(self) -> str:
        """Its short command name (a kernel thread's only name), or "" when it is gone."""
        return self._read("comm").decode(errors="replace").strip()

    def _read(self, name: str) -> bytes:
        """A file of its /proc folder; empty when it is gone, even halfway through the read."""
        with _tolerant(), open(os.open(name, os.O_RDONLY, dir_fd=self._folder), "rb") as file:
            return file.read()
        return b""

    @staticmethod
    def _link(name: str, folder: int) -> str | None:
        with _tolerant():
            return os.readlink(name, dir_fd=folder)
        return None


def each() -> Iterator[Process]:
    """Every process of this host, each open only while the caller looks at it."""
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        folder = None
        with _tolerant():
            folder = os.open(entry.path, _DIRECTORY)
        if folder is None:
            continue
        try:
            yield Process(int(entry.name), folder)
        finally:
            os.close(folder)


def parents() -> dict[int, int]:
    """The parent of every process of this host, this one included (field 4 of /proc/<pid>/stat)."""
    found = {}
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        with _tolerant(), open(os.path.join(entry.path, "stat"), "rb") as file:
            stat = file.read()
            # the command name (field 2) may hold spaces and parentheses, so count fields from its closing ')'
            found[int(entry.name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
    return found


def listening(ports: Collection[int]) -> dict[int, int]:
    """The inode of every TCP socket listening on one of these ports of 127.0.0.1, and its port."""
    if not ports:
        return {}
    # a busy host's tables hold thousands of connections: a line is split whole only once its state and port match
    wanted = {f"{port:04X}": port for port in ports}
    found: dict[int, int] = {}
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(FileNotFoundError), open(os.path.join(PROC, "net", table)) as file:
            next(file, None)
            for line in file:
                _, local, _, state, _ = line.split(None, 4)
                address, _, port = local.partition(":")
                if state == _LISTEN and port in wanted and _address(address) in _LOCAL:
                    found[int(line.split()[9])] = wanted[port]
    return found


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as /proc/net/tcp* prints it: hex of each 32-bit word in the host's byte order."""
    raw = bytes.fromhex(text)
    if sys.byteorder == "little":
        raw = b"".join(raw[at : at + 4][::-1] for at in range(0, len(raw), 4))
    return ipaddress.ip_address(raw)


def links_of(pid: int) -> list[str]:
    """What the descriptors of one process point at (Process.links), without a pass over the others."""
    with _tolerant():
        folder = os.open(os.path.join(PROC, str(pid)), _DIRECTORY)
        try:
            return Process(pid, folder).links()
        finally:
            os.close(folder)
    return []


def socket_inode(link: str) -> int | None:
    """The inode a descriptor's `socket:[inode]` target names, or None for any other target."""
    if link.startswith("socket:[") and link.endswith("]"):
        return int(link[8:-1])
    return None
