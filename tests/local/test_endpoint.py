"""The endpoint proxy as a real process: moves between real HTTP backends, closed stale connections, supervision."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from activities.sites.local.endpoint import (
    MoveResult,
    ensure_proxy,
    move_endpoint,
    proxy_running,
    read_route,
    write_route,
)
from activities.sites.local.processes import free_port, is_running, start_process, stop_process, wait_for_port


@dataclass(frozen=True)
class Site:
    """A test site: the route file and the proxy's files, and two backends answering "old" and "new"."""

    run: Path
    route: Path
    old: int
    new: int

    def ensure(self, port: int) -> int:
        """Starts the proxy unless it runs."""
        return ensure_proxy(port, [self.route], self.run / "proxy.pid", self.run / "proxy.log")


def backend(run: Path, answer: str) -> int:
    """Starts `python -m http.server` serving a page that says `answer`; returns its port."""
    (run / answer).mkdir()
    (run / answer / "index.html").write_text(answer)
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(run / answer)]
    start_process(argv, pid_file=run / f"{answer}.pid", log_file=run / f"{answer}.log")
    return port


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """Two running backends and a route file; every process is stopped after the test."""
    old, new = backend(tmp_path, "old"), backend(tmp_path, "new")
    for port in (old, new):
        wait_for_port(port, timeout=10)
    yield Site(tmp_path, tmp_path / "shop.route", old, new)
    for pid_file in tmp_path.glob("*.pid"):
        stop_process(pid_file, timeout=2)


def fetch(port: int) -> str:
    """The page behind the port, or the name of the error that prevented it."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            page: bytes = response.read()
            return page.decode()
    except urllib.error.URLError as error:
        return type(error.reason).__name__
    except OSError as error:
        return type(error).__name__


def _until(condition: Callable[[], bool], results: list[tuple[float, str]], timeout: float = 30) -> None:
    """Wait until the condition holds; fail the test, with the client's last answers, if it does not within the
    timeout (generous: on a loaded host one request may wait seconds for a core)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"the client made too few requests: {results[-10:]}"
        time.sleep(0.01)


def test_a_client_is_never_answered_by_the_old_backend_once_the_move_returned(site: Site) -> None:
    listen = free_port()
    write_route(site.route, [site.old])
    site.ensure(listen)
    results: list[tuple[float, str]] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            began = time.monotonic()
            results.append((began, fetch(listen)))

    thread = threading.Thread(target=client)
    thread.start()
    try:
        _until(lambda: sum(answer == "old" and began < time.monotonic() - 0.1 for began, answer in list(results)) >= 3,
               results)
        requested = time.monotonic()
        move = move_endpoint(site.route, [site.new], timeout=5)
        moved = time.monotonic()
        # a few requests begun after the move, however slow the host: a fixed sleep saw none under load
        _until(lambda: sum(began > moved for began, _ in list(results)) >= 3, results)
    finally:
        stop.set()
        thread.join()
    assert move.applied
    after = [answer for began, answer in results if began > moved]
    assert after and set(after) == {"new"}
    assert {answer for began, answer in results if began < requested - 0.1} == {"old"}
    assert len([answer for _, answer in results if answer not in ("old", "new")]) <= 2


def test_connections_open_to_the_old_backend_are_closed_by_the_move(site: Site) -> None:
    listen = free_port()
    write_route(site.route, [site.old])
    site.ensure(listen)
    with socket.create_connection(("127.0.0.1", listen)) as idle:
        idle.settimeout(0.3)
        with pytest.raises(TimeoutError):
            idle.recv(1)  # open: the old backend waits for a request line
        assert move_endpoint(site.route, [site.new], timeout=5) == MoveResult(generation=2, applied=True)
        idle.settimeout(0)
        with contextlib.suppress(ConnectionResetError):
            assert idle.recv(1) == b""  # closed already: no wait for the proxy
    assert fetch(listen) == "new"


def test_round_robin_and_an_empty_route_refuses(site: Site) -> None:
    listen = free_port()
    write_route(site.route, [site.old, site.new])
    site.ensure(listen)
    assert {fetch(listen) for _ in range(4)} == {"old", "new"}
    move_endpoint(site.route, [], timeout=5)
    assert fetch(listen) in ("RemoteDisconnected", "ConnectionResetError", "BadStatusLine")


def test_a_move_without_a_proxy_reports_it_was_not_applied(site: Site) -> None:
    assert not proxy_running(site.route)
    assert move_endpoint(site.route, [site.old], timeout=5) == MoveResult(generation=1, applied=False)
    assert move_endpoint(site.route, [site.new], timeout=5) == MoveResult(generation=2, applied=False)
    assert read_route(site.route).backends == (site.new,)


def test_a_killed_proxy_comes_back_when_ensured_again(site: Site) -> None:
    listen = free_port()
    write_route(site.route, [site.new])
    first = site.ensure(listen)
    assert site.ensure(listen) == first and fetch(listen) == "new"
    os.kill(first, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while is_running(site.run / "proxy.pid"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert fetch(listen) == "ConnectionRefusedError"
    second = site.ensure(listen)
    assert second != first and fetch(listen) == "new" and proxy_running(site.route)
