"""An app's public endpoint: a TCP proxy on a stable 127.0.0.1 port that follows the app's active backends.

The route file (JSON `{"generation": N, "backends": [port, ...]}`) says where connections go. The
proxy polls it; on a new generation it sends new connections to the new backends, closes those
still open to backends no longer listed, and only then writes `<route file>.applied`, so that
`move_endpoint` returns only once no client can still be answered by an old backend.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import itertools
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from activities.environment import child_environment
from activities.sites.local.processes import is_running, port_open, running_pid, start_process

POLL_SECONDS = 0.05
CONNECT_SECONDS = 2.0
_ROOT = Path(__file__).resolve().parents[3]

log = logging.getLogger("endpoint")


class EndpointError(Exception):
    """The endpoint proxy could not be started or did not apply a route in time."""


@dataclass(frozen=True)
class Route:
    """Where an endpoint's connections go: backend ports on 127.0.0.1, tried round-robin."""

    generation: int
    backends: tuple[int, ...]


@dataclass(frozen=True)
class MoveResult:
    """The generation written, and whether a running proxy confirmed it (False: no proxy runs)."""

    generation: int
    applied: bool


def _sibling(route_file: Path, suffix: str) -> Path:
    """A file kept beside the route file."""
    return route_file.with_name(route_file.name + suffix)


def _replace_atomically(path: Path, text: str) -> None:
    """Writes a file by renaming a complete temporary one over it, so readers never see half of it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def read_route(route_file: Path) -> Route:
    """The route in the file; no file means generation 0 with no backends."""
    if not route_file.exists():
        return Route(0, ())
    value = json.loads(route_file.read_text())
    return Route(int(value["generation"]), tuple(int(port) for port in value["backends"]))


def applied_generation(route_file: Path) -> int:
    """The last generation a proxy confirmed for this route file (0 when none did)."""
    try:
        return int(json.loads(_sibling(route_file, ".applied").read_text())["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


@contextlib.contextmanager
def _writer_lock(route_file: Path) -> Iterator[None]:
    """Serializes route writers, so that two moves never write the same generation."""
    route_file.parent.mkdir(parents=True, exist_ok=True)
    with open(_sibling(route_file, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def write_route(route_file: Path, backends: Sequence[int]) -> int:
    """Atomically writes the next generation of the route with these backends; returns that generation."""
    with _writer_lock(route_file):
        # past the applied one too, in case the route file was lost while the proxy kept running
        generation = max(read_route(route_file).generation, applied_generation(route_file)) + 1
        _replace_atomically(route_file, json.dumps({"generation": generation, "backends": list(backends)}))
        return generation


def proxy_running(route_file: Path) -> bool:
    """Whether a proxy serves this route file (it holds a lock beside it for as long as it lives)."""
    lock_path = _sibling(route_file, ".proxy")
    if not lock_path.exists():
        return False
    with open(lock_path, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def move_endpoint(route_file: Path, backends: Sequence[int], timeout: float) -> MoveResult:
    """Points the endpoint at new backends and waits until its proxy has applied that (if a proxy runs)."""
    generation = write_route(route_file, backends)
    deadline = time.monotonic() + timeout
    while applied_generation(route_file) < generation:
        if not proxy_running(route_file):
            log.warning("no proxy serves %s; generation %d will apply when one starts", route_file, generation)
            return MoveResult(generation, applied=False)
        if time.monotonic() >= deadline:
            raise EndpointError(f"the proxy of {route_file} did not apply generation {generation} in {timeout}s")
        time.sleep(0.01)
    return MoveResult(generation, applied=True)


def proxy_argv(listen_port: int, route_file: Path) -> list[str]:
    """The command line of the proxy process."""
    return [sys.executable, "-m", __name__, "--listen", str(listen_port), "--route", str(route_file)]


def ensure_proxy(listen_port: int, route_file: Path, pid_file: Path, log_file: Path, timeout: float = 5.0) -> int:
    """Starts the proxy unless it runs already; returns its pid once it accepts connections."""
    argv = proxy_argv(listen_port, route_file)
    before = running_pid(pid_file)
    # The proxy runs this module: the folder that holds the package is all it needs to find it.
    env = child_environment({"PYTHONPATH": str(_ROOT)})
    pid = start_process(argv, pid_file=pid_file, log_file=log_file, env=env)
    deadline = time.monotonic() + timeout
    while pid != before and not port_open(listen_port):
        if not is_running(pid_file) or time.monotonic() >= deadline:
            raise EndpointError(f"the proxy for port {listen_port} did not start listening; see {log_file}")
        time.sleep(0.02)
    return pid


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copies one direction of a connection until end of file, then half-closes the other side."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except OSError:
        # one side reset: end the other side too, so the opposite pipe ends as well
        writer.transport.abort()


class Proxy:
    """The proxy's state: the route it applied and its open connections with their backend ports."""

    def __init__(self, route_file: Path) -> None:
        """A proxy for the route file, with no route applied yet."""
        self.route_file = route_file
        self.route = Route(-1, ())
        self._links: dict[asyncio.Task[None], int | None] = {}
        self._turn = itertools.count()
        self._seen: tuple[int, int, int] | None = None

    async def _connect(self) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter] | None:
        """A connection to the next backend that accepts one, round-robin; None when none does."""
        backends = self.route.backends
        first = next(self._turn)
        for index in range(len(backends)):
            port = backends[(first + index) % len(backends)]
            with contextlib.suppress(OSError, asyncio.TimeoutError):
                opening = asyncio.open_connection("127.0.0.1", port)
                reader, writer = await asyncio.wait_for(opening, CONNECT_SECONDS)
                return port, reader, writer
        return None

    async def handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        """Forwards one client connection to a backend of the current route."""
        task = asyncio.current_task()
        assert task is not None
        self._links[task] = None
        writers = [client_writer]
        try:
            connected = await self._connect()
            if connected is None:
                return
            port, backend_reader, backend_writer = connected
            writers.append(backend_writer)
            self._links[task] = port
            # the route may have moved away from this backend while the connection was being opened
            if port in self.route.backends:
                await asyncio.gather(_pipe(client_reader, backend_writer), _pipe(backend_reader, client_writer))
        except asyncio.CancelledError:
            for writer in writers:
                writer.transport.abort()
            raise
        finally:
            del self._links[task]
            for writer in writers:
                writer.close()

    async def close_links(self, keep: tuple[int, ...]) -> int:
        """Closes every open connection to a backend not in `keep`, and waits until they are closed."""
        stale = [task for task, port in self._links.items() if port is not None and port not in keep]
        for task in stale:
            task.cancel()
        await asyncio.gather(*stale, return_exceptions=True)
        return len(stale)

    async def apply(self, route: Route) -> None:
        """Switches to a route, closes connections to backends it dropped, then acknowledges it."""
        self.route = route
        closed = await self.close_links(route.backends)
        _replace_atomically(_sibling(self.route_file, ".applied"), json.dumps({"generation": route.generation}))
        log.info("applied generation %d: backends %s, %d connections closed", route.generation, route.backends, closed)

    async def poll(self) -> None:
        """Applies the route file if it changed to a new generation."""
        try:
            stat = self.route_file.stat()
            seen = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        except FileNotFoundError:
            seen = (0, 0, 0)
        if seen == self._seen:
            return
        self._seen = seen
        try:
            route = read_route(self.route_file)
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.error("ignoring unreadable route file %s: %s", self.route_file, error)
            return
        if route.generation != self.route.generation:
            await self.apply(route)

    async def watch(self) -> None:
        """Polls the route file for ever."""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            await self.poll()


@contextlib.contextmanager
def _proxy_lock(route_file: Path) -> Iterator[None]:
    """Holds the lock that marks this process as the proxy of the route file; exits if another holds it."""
    route_file.parent.mkdir(parents=True, exist_ok=True)
    with open(_sibling(route_file, ".proxy"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            sys.exit(f"another proxy already serves {route_file}")
        yield


async def serve(listen_port: int, route_file: Path) -> None:
    """Runs the proxy until SIGTERM or SIGINT."""
    proxy = Proxy(route_file)
    await proxy.poll()
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", listen_port)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    log.info("listening on 127.0.0.1:%d for %s", listen_port, route_file)
    watcher = asyncio.create_task(proxy.watch())
    await stop.wait()
    watcher.cancel()
    server.close()
    await proxy.close_links(keep=())
    log.info("stopped")


def main(argv: Sequence[str] | None = None) -> None:
    """Runs the proxy from the command line."""
    parser = argparse.ArgumentParser(description="Stable TCP endpoint that follows a route file.")
    parser.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1 to accept clients on")
    parser.add_argument("--route", type=Path, required=True, help="JSON route file to follow")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s endpoint %(message)s")
    with _proxy_lock(args.route):
        asyncio.run(serve(args.listen, args.route))


if __name__ == "__main__":
    main()
