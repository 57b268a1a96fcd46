"""The endpoint proxy process: accepts clients on a public port and forwards them to the newest route's backends.

It follows the route files of every site it was started with, applies the route with the greatest
(epoch, generation) and never one older than the route it serves: a route of a fenced site is refused
even when that site rewrites its file. See `activities.sites.local.endpoint` for the files.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import itertools
import json
import logging
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from activities.sites.local.endpoint import Route, current_route, readable_routes, sibling
from activities.sites.local.processes import replace_atomically

POLL_SECONDS = 0.05
CONNECT_SECONDS = 2.0

log = logging.getLogger("endpoint")


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


def _seen(route_file: Path) -> tuple[int, int, int]:
    """What tells a changed route file: mtime, size and inode; zeros when it is missing or unreadable."""
    try:
        stat = route_file.stat()
    except OSError:
        return 0, 0, 0
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


class Proxy:
    """The proxy's state: the route it applied and its open connections with their backend ports."""

    def __init__(self, route_files: Sequence[Path]) -> None:
        """A proxy for the route files, with no route applied yet."""
        self.route_files = list(route_files)
        self.route = Route(-1, -1, ())
        self._links: dict[asyncio.Task[None], int | None] = {}
        self._turn = itertools.count()
        # what each file looked like at the last poll; nothing yet, so the first poll reads them all
        self._seen = [(-1, -1, -1)] * len(self.route_files)

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

    async def apply(self, route: Route, source: Path) -> None:
        """Switches to a route, closes connections to backends it dropped, then acknowledges it beside every file."""
        self.route = route
        closed = await self.close_links(route.backends)
        text = json.dumps({"epoch": route.epoch, "generation": route.generation, "route": str(source)})
        for route_file in self.route_files:
            # a lost site's folder cannot take the acknowledgement; the others still do
            with contextlib.suppress(OSError):
                replace_atomically(sibling(route_file, ".applied"), text)
        log.info("applied epoch %d generation %d of %s: backends %s, %d connections closed",
                 route.epoch, route.generation, source, route.backends, closed)

    async def poll(self) -> None:
        """Applies the newest route among the files that changed, if it is newer than the one applied."""
        seen = [_seen(route_file) for route_file in self.route_files]
        changed = [route_file for route_file, now, then in zip(self.route_files, seen, self._seen, strict=True)
                   if now != then]
        self._seen = seen
        routes = readable_routes(changed)
        for route_file, route in routes.items():
            if route.order < self.route.order:
                log.warning("refused the route of epoch %d generation %d in %s: older than the epoch %d generation "
                            "%d applied", route.epoch, route.generation, route_file, *self.route.order)
        found = current_route(changed)
        if found is not None and found[1].order > self.route.order:
            await self.apply(found[1], found[0])

    async def watch(self) -> None:
        """Polls the route files for ever."""
        while True:
            await asyncio.sleep(POLL_SECONDS)
            await self.poll()


@contextlib.contextmanager
def _proxy_locks(route_files: Sequence[Path]) -> Iterator[None]:
    """Holds the locks that mark this process as the proxy of the route files; exits if another holds one."""
    with contextlib.ExitStack() as stack:
        for route_file in route_files:
            try:
                route_file.parent.mkdir(parents=True, exist_ok=True)
                lock = stack.enter_context(open(sibling(route_file, ".proxy"), "a"))
            except OSError as error:
                log.warning("following %s without its lock: %s", route_file, error)
                continue
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                sys.exit(f"another proxy already serves {route_file}")
        yield


async def serve(listen_port: int, route_files: Sequence[Path]) -> None:
    """Runs the proxy until SIGTERM or SIGINT."""
    proxy = Proxy(route_files)
    await proxy.poll()
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", listen_port)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    log.info("listening on 127.0.0.1:%d for %s", listen_port, ", ".join(map(str, route_files)))
    watcher = asyncio.create_task(proxy.watch())
    await stop.wait()
    watcher.cancel()
    server.close()
    await proxy.close_links(keep=())
    log.info("stopped")


def main(argv: Sequence[str] | None = None) -> None:
    """Runs the proxy from the command line."""
    parser = argparse.ArgumentParser(description="Stable TCP endpoint that follows the newest of its route files.")
    parser.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1 to accept clients on")
    parser.add_argument("--route", type=Path, action="append", required=True,
                        help="JSON route file of one site (repeat for every site)")
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s endpoint %(message)s")
    with _proxy_locks(args.route):
        asyncio.run(serve(args.listen, args.route))


if __name__ == "__main__":
    main()
