"""HTTP plumbing shared by the sample shop's services: replies, upstream calls, command line and serve loop."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger("sampleapp")


@dataclass(frozen=True)
class Request:
    """One HTTP request as a service sees it."""

    method: str
    path: str
    body: bytes


@dataclass(frozen=True)
class Reply:
    """One HTTP answer."""

    status: int
    body: bytes
    content_type: str = "application/json"


Handler = Callable[[Request], Reply]


def json_reply(status: int, value: Any) -> Reply:
    """A JSON answer."""
    return Reply(status, json.dumps(value).encode() + b"\n")


def html_reply(status: int, page: str) -> Reply:
    """An HTML answer."""
    return Reply(status, page.encode(), "text/html; charset=utf-8")


def parse_json(body: bytes) -> Any:
    """The JSON value of a request body, or None when it is not JSON."""
    try:
        return json.loads(body or b"null")
    except ValueError:
        return None


def call(url: str, method: str = "GET", body: bytes | None = None, timeout: float = 5.0) -> Reply:
    """Calls another service; an unreachable service becomes a 502 answer instead of an exception."""
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, response.read(), response.headers.get_content_type())
    except urllib.error.HTTPError as error:
        return Reply(error.code, error.read(), error.headers.get_content_type())
    except OSError as error:
        return json_reply(502, {"error": f"{url} unreachable: {error}"})


def arguments(name: str, description: str, upstream: str | None, argv: Sequence[str] | None,
              standby: bool = False) -> argparse.Namespace:
    """Parses `--port P --data DIR` (and `--<upstream> URL`, `--standby`), and sends brief logs to stderr."""
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=f"%(asctime)s {name} %(message)s")
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", type=Path, required=True)
    if upstream:
        parser.add_argument(f"--{upstream}", required=True, help="base URL of the upstream service")
    if standby:
        parser.add_argument("--standby", action="store_true",
                            help="start warm: listen, answer 503, open the data only on SIGUSR1")
    return parser.parse_args(argv)


def _handler_class(name: str, handle: Handler) -> type[BaseHTTPRequestHandler]:
    """A request handler class that turns every request into a call of `handle`."""

    class ServiceHandler(BaseHTTPRequestHandler):
        server_version = f"sampleapp-{name}/1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(self.command, self.path.split("?", 1)[0], self.rfile.read(length))
            try:
                reply = handle(request)
            except Exception as error:  # one bad request must not take the service down
                log.exception("%s %s failed", request.method, request.path)
                reply = json_reply(500, {"error": str(error)})
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = _serve  # noqa: N815 (names http.server looks up)

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

    return ServiceHandler


def serve(name: str, port: int, handle: Handler) -> None:
    """Serves `handle` on 127.0.0.1:port until SIGTERM or SIGINT, then shuts down cleanly."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler_class(name, handle))

    def stop(signum: int, _frame: object) -> None:
        log.info("signal %d: shutting down", signum)
        # shutdown() waits for serve_forever() to return, so it cannot run on the thread serving
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("listening on 127.0.0.1:%d", port)
    # A short poll: a stopped service frees its port promptly, which a switchover's downtime counts.
    server.serve_forever(poll_interval=0.02)
    server.server_close()
    log.info("stopped")
