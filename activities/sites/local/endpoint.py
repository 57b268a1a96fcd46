"""An app's public endpoint: route files, one per site, and the proxy on a stable 127.0.0.1 port that follows them.

A route file (JSON `{"epoch": E, "generation": N, "backends": [port, ...]}`) lives in the folder of the
site whose machines it names. The proxy (`activities.sites.local.proxy`) follows the route files of
every site it was started with and serves the route with the greatest (epoch, generation); it never
goes back to a smaller one. `write_route` refuses an epoch older than any route it can read, so a
fenced site cannot take the endpoint back; on a new route the proxy closes connections to backends no
longer listed and only then writes `<route file>.applied`, so that `move_endpoint` returns only once
no client can still be answered by an old backend.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from activities.environment import child_environment
from activities.sites.local import usage
from activities.sites.local.fencing import StaleEpoch
from activities.sites.local.processes import (
    ProcessError,
    is_running,
    port_open,
    replace_atomically,
    start_process,
    stop_pid,
)

PROXY_MODULE = "activities.sites.local.proxy"
_ROOT = Path(__file__).resolve().parents[3]

log = logging.getLogger("endpoint")


class EndpointError(Exception):
    """The endpoint proxy could not be started or did not apply a route in time."""


class PortTaken(EndpointError):
    """Another program than an endpoint proxy holds the public port."""


@dataclass(frozen=True)
class Route:
    """Where an endpoint's connections go: backend ports on 127.0.0.1, tried round-robin."""

    epoch: int
    generation: int
    backends: tuple[int, ...]

    @property
    def order(self) -> tuple[int, int]:
        """What makes one route newer than another: the epoch first, then the generation."""
        return self.epoch, self.generation


@dataclass(frozen=True)
class MoveResult:
    """The generation written, and whether a running proxy confirmed it (False: no proxy runs)."""

    generation: int
    applied: bool


def sibling(route_file: Path, suffix: str) -> Path:
    """A file kept beside the route file."""
    return route_file.with_name(route_file.name + suffix)


def read_route(route_file: Path) -> Route:
    """The route in the file; no file means epoch 0, generation 0 with no backends."""
    if not route_file.exists():
        return Route(0, 0, ())
    value = json.loads(route_file.read_text())
    backends = tuple(int(port) for port in value["backends"])
    return Route(int(value.get("epoch", 0)), int(value["generation"]), backends)


def readable_routes(route_files: Sequence[Path]) -> dict[Path, Route]:
    """The routes of the files that exist and can be read; a lost site's unreadable file is left out."""
    routes = {}
    for route_file in route_files:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            if route_file.exists():
                routes[route_file] = read_route(route_file)
    return routes


def current_route(route_files: Sequence[Path]) -> tuple[Path, Route] | None:
    """The file with the greatest (epoch, generation) among those readable: the route a proxy serves."""
    routes = readable_routes(route_files)
    return max(routes.items(), key=lambda item: (item[1].order, str(item[0])), default=None)


def applied(route_file: Path) -> tuple[int, int]:
    """The (epoch, generation) a proxy last confirmed beside this route file ((0, 0) when none did)."""
    try:
        value = json.loads(sibling(route_file, ".applied").read_text())
        return int(value.get("epoch", 0)), int(value["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0, 0


@contextlib.contextmanager
def _writer_lock(route_file: Path) -> Iterator[None]:
    """Serializes route writers, so that two moves never write the same generation."""
    route_file.parent.mkdir(parents=True, exist_ok=True)
    with open(sibling(route_file, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def write_route(route_file: Path, backends: Sequence[int], epoch: int = 0, peers: Sequence[Path] = ()) -> int:
    """Atomically writes the next generation of the route; returns it. StaleEpoch if a readable route is newer."""
    with _writer_lock(route_file):
        routes = readable_routes([route_file, *peers])
        newest = max(routes.items(), key=lambda item: item[1].epoch, default=None)
        if newest is not None and newest[1].epoch > epoch:
            raise StaleEpoch(epoch, newest[1].epoch, f"the route in {newest[0]}")
        # past the applied one too, in case the route file was lost while the proxy kept running
        generation = max([applied(route_file)[1], *(route.generation for route in routes.values())]) + 1
        text = json.dumps({"epoch": epoch, "generation": generation, "backends": list(backends)})
        replace_atomically(route_file, text)
        return generation


def proxy_running(route_file: Path) -> bool:
    """Whether a proxy follows this route file (it holds a lock beside it for as long as it lives)."""
    lock_path = sibling(route_file, ".proxy")
    if not lock_path.exists():
        return False
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def move_endpoint(route_file: Path, backends: Sequence[int], timeout: float, epoch: int = 0,
                  peers: Sequence[Path] = ()) -> MoveResult:
    """Points the endpoint at new backends and waits until its proxy has applied that (if a proxy runs)."""
    generation = write_route(route_file, backends, epoch, peers)
    deadline = time.monotonic() + timeout
    while (seen := applied(route_file)) < (epoch, generation):
        if not proxy_running(route_file):
            log.warning("no proxy serves %s; generation %d will apply when one starts", route_file, generation)
            return MoveResult(generation, applied=False)
        if time.monotonic() >= deadline:
            raise EndpointError(f"the proxy of {route_file} did not apply generation {generation} in {timeout}s")
        time.sleep(0.01)
    if seen[0] > epoch:
        raise StaleEpoch(epoch, seen[0], f"the route in {route_file}")
    return MoveResult(generation, applied=True)


def proxy_argv(listen_port: int, route_files: Sequence[Path]) -> list[str]:
    """The command line of the proxy process."""
    routes = [part for route_file in route_files for part in ("--route", str(route_file))]
    return [sys.executable, "-m", PROXY_MODULE, "--listen", str(listen_port), *routes]


@dataclass(frozen=True)
class Holder:
    """The proxy listening on a public port, and the route files it follows."""

    pid: int
    routes: tuple[Path, ...]


def holder(listen_port: int) -> Holder | None:
    """The proxy on the port, None when the port is free; EndpointError when another program holds it."""
    found = usage.listeners({listen_port}).get(listen_port)
    if found is None:
        return None
    argv = usage.argv(found.pid) if found.pid is not None else []
    if found.pid is None or PROXY_MODULE not in argv:
        raise PortTaken(f"public port {listen_port} is held by {found}, not an endpoint proxy; free the port "
                            "or give the endpoint another one")
    routes = tuple(Path(argv[i + 1]) for i, part in enumerate(argv[:-1]) if part == "--route")
    return Holder(found.pid, routes)


def ensure_proxy(listen_port: int, route_files: Sequence[Path], pid_file: Path, log_file: Path, timeout: float = 5.0,
                 replace: bool = False) -> int:
    """The pid of the proxy on the port, started if none listens.

    With `replace`, a proxy that does not follow every route file given is stopped and a proxy following
    them and its own route files too is started: a site takes the endpoint over from another's proxy.
    """
    current = holder(listen_port)
    wanted = list(dict.fromkeys(route_files))
    if current is not None:
        if not replace or set(wanted) <= set(current.routes):
            return current.pid
        wanted = list(dict.fromkeys([*current.routes, *wanted]))
        try:
            stop_pid(current.pid, timeout)
        except ProcessError as error:
            raise EndpointError(f"cannot take port {listen_port} over from proxy pid {current.pid}: {error}") from error
    return _start(listen_port, wanted, pid_file, log_file, timeout)


def _start(listen_port: int, route_files: list[Path], pid_file: Path, log_file: Path, timeout: float) -> int:
    """Starts a proxy and waits until it accepts connections."""
    # The proxy runs this module: the folder that holds the package is all it needs to find it.
    env = child_environment({"PYTHONPATH": str(_ROOT)})
    try:
        pid = start_process(proxy_argv(listen_port, route_files), pid_file=pid_file, log_file=log_file, env=env)
    except ProcessError as error:
        raise EndpointError(f"cannot start the proxy for port {listen_port}: {error}") from error
    deadline = time.monotonic() + timeout
    while not (port_open(listen_port) and usage.family_listens(pid, listen_port)):
        if not is_running(pid_file) or time.monotonic() >= deadline:
            raise EndpointError(f"the proxy for port {listen_port} did not start listening; see {log_file}")
        time.sleep(0.02)
    return pid
