"""Who uses a folder or listens on a port, read from /proc in one pass: real processes and sockets of this host."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.sites.local import usage

# Opens what it is told (a file, or a folder as a folder), binds and perhaps listens, says so, and waits. The path
# comes in the environment: on the command line it would make the process a user of the folder by that alone.
HOLDER = """
import os, socket, sys, time
kind, family, address, listen = sys.argv[1:5]
path = os.environ.get("HOLD", "")
held = open(path, "a") if kind == "file" else os.open(path, os.O_RDONLY | os.O_DIRECTORY) if kind == "folder" else None
if address:
    server = socket.socket(socket.AF_INET6 if family == "6" else socket.AF_INET)
    server.bind((address, 0))
    if listen == "yes":
        server.listen()
    print(server.getsockname()[1], flush=True)
else:
    print(0, flush=True)
time.sleep(60)
"""


class Holder:
    """A process this test starts, holding a path and perhaps a socket; `port` is the one it bound."""

    def __init__(self, kind: str = "", path: Path | None = None, family: str = "4", address: str = "",
                 listen: bool = True):
        argv = [sys.executable, "-c", HOLDER, kind, family, address, "yes" if listen else "no"]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, start_new_session=True,
                                        env={**os.environ, "HOLD": str(path or "")})
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())
        self.pid = self.process.pid

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    """Every holder a test starts, stopped after it."""
    started: list[Holder] = []
    yield started
    for holder in started:
        holder.stop()


def hold(holders: list[Holder], *args: object, **kwargs: object) -> Holder:
    holders.append(Holder(*args, **kwargs))  # type: ignore[arg-type]
    return holders[-1]


def ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.parametrize(("family", "address"), [("4", "127.0.0.1"), ("4", "0.0.0.0"), ("6", "::"), ("6", "::1")])
def test_the_listener_of_a_port_is_named_by_pid_at_every_address_that_takes_127_0_0_1(
        holders: list[Holder], family: str, address: str) -> None:
    if family == "6" and not ipv6():
        pytest.skip("this host has no IPv6 loopback (CI has one)")
    holder = hold(holders, family=family, address=address)

    found = usage.listeners({holder.port})

    assert found[holder.port].pid == holder.pid
    assert found[holder.port].how == f"it listens on 127.0.0.1:{holder.port}"
    assert "python" in found[holder.port].command


def test_a_bound_socket_that_does_not_listen_and_a_port_nobody_holds_are_no_listeners(holders: list[Holder]) -> None:
    bound = hold(holders, address="127.0.0.1", listen=False)
    listening = hold(holders, address="127.0.0.1")

    assert set(usage.listeners({bound.port, listening.port})) == {listening.port}
    assert usage.listeners(set()) == {}


def test_this_process_is_named_when_it_listens(holders: list[Holder]) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert usage.listeners({port})[port].pid == os.getpid()


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_process_holding_a_file_or_the_folder_itself_open_uses_it(tmp_path: Path, holders: list[Holder],
                                                                    kind: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    holder = hold(holders, kind=kind, path=data / "orders.log" if kind == "file" else data)

    [user] = usage.users_of(data)

    assert user.pid == holder.pid and user.how == f"it has files in {data} open"
    assert usage.users_of(data, open_files=False) == [], "its command line names no path in the folder"


def test_this_process_is_no_user_of_a_folder_even_with_a_file_open_there(tmp_path: Path) -> None:
    with open(tmp_path / "held", "a"):
        assert [user.pid for user in usage.users_of(tmp_path)] == []


def test_one_scan_gives_each_folder_its_users_and_each_port_its_listener(tmp_path: Path,
                                                                         holders: list[Holder]) -> None:
    first, second, idle = tmp_path / "first", tmp_path / "second", tmp_path / "idle"
    for folder in (first, second, idle):
        folder.mkdir()
    one = hold(holders, kind="file", path=first / "a", address="127.0.0.1")
    two = hold(holders, kind="folder", path=second, address="127.0.0.1")

    found = usage.scan([first, second, idle], {one.port, two.port})

    assert {folder: [u.pid for u in users] for folder, users in found.users.items()} == {
        first: [one.pid], second: [two.pid], idle: []}
    assert {port: user.pid for port, user in found.listeners.items()} == {one.port: one.pid, two.port: two.pid}


def test_a_family_is_a_process_and_all_its_descendants(holders: list[Holder]) -> None:
    script = "import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n" \
             "print(0, flush=True)\ntime.sleep(60)"
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline()
        outsider = hold(holders)
        found = usage.family(parent.pid)
        assert parent.pid in found and len(found) == 2 and outsider.pid not in found
    finally:
        os.killpg(parent.pid, 9)
        parent.wait()
    assert usage.family(parent.pid) == set()


OUT_OF_DESCRIPTORS = """
import os, resource, sys
from activities.sites.local import usage
# room for the descriptor of /proc itself and none more: each process's folder cannot be opened
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (len(os.listdir("/proc/self/fd")), hard))
try:
    usage.users_of(sys.argv[1])
except OSError as error:
    print(error.strerror)
else:
    print("no error")
"""


def test_a_pass_that_cannot_look_at_the_processes_fails_it_never_finds_nobody(tmp_path: Path) -> None:
    ran = subprocess.run([sys.executable, "-c", OUT_OF_DESCRIPTORS, str(tmp_path)], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], check=True)
    assert ran.stdout.strip() == "Too many open files", ran.stdout + ran.stderr
