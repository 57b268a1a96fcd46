"""The Temporal UI's remote codec over HTTP: POST .../encode and .../decode of `{"payloads": [...]}`.

The protocol: Payloads as protobuf JSON in and out, only the last path segment names the endpoint, the UI
sends the namespace in X-Namespace, and a browser first asks with a CORS preflight. Only the one UI origin
given is answered with CORS headers, so no other web page can have a visitor's browser decode payloads.
"""

import logging
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from standby.codec import DecodeError
from standby.compression import CompressionCodec

MAX_BODY = 16 * 1024 * 1024
"""Largest request accepted: a history page of payloads, far above Temporal's 2 MiB per payload."""

ALLOWED_HEADERS = "X-Namespace, Content-Type, Authorization"
log = logging.getLogger(__name__)


class CodecServer(ThreadingHTTPServer):
    """An HTTP server that encodes and decodes payloads of one namespace for one UI origin."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], codec: CompressionCodec, origin: str | None, namespace: str) -> None:
        super().__init__(address, _Handler)
        self.codec, self.origin, self.namespace = codec, origin, namespace

    @property
    def url(self) -> str:
        """Where the server listens, as the UI's codec endpoint setting wants it."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: CodecServer

    def do_OPTIONS(self) -> None:
        """CORS preflight: allowed for the configured origin only."""
        if not self._origin_allowed():
            self._reply(HTTPStatus.FORBIDDEN, f"origin {self.headers.get('Origin')!r} is not the UI this server "
                                              "serves; start it with --cors-origin set to the UI's address")
            return
        self.send_response(HTTPStatus.NO_CONTENT)
        self._cors()
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        """Encode or decode the posted payloads."""
        endpoint = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        apply = {"encode": self.server.codec.encode_one, "decode": self.server.codec.decode_one}.get(endpoint)
        if apply is None:
            self._reply(HTTPStatus.NOT_FOUND, "the codec server answers POST .../encode and .../decode")
            return
        namespace = self.headers.get("X-Namespace")
        if namespace and namespace != self.server.namespace:
            self._reply(HTTPStatus.FORBIDDEN, f"this codec server serves namespace {self.server.namespace!r}, "
                                              f"not {namespace!r}")
            return
        self._convert(apply)

    def _convert(self, apply: Callable[[Payload], Payload]) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"at most {MAX_BODY} bytes per request")
            return
        try:
            payloads = json_format.Parse(self.rfile.read(length), Payloads())
            result = Payloads(payloads=[apply(p) for p in payloads.payloads])
        except json_format.ParseError as error:
            self._reply(HTTPStatus.BAD_REQUEST, f"the body is not Payloads as protobuf JSON: {error}")
            return
        except DecodeError as error:
            self._reply(HTTPStatus.BAD_REQUEST, str(error))
            return
        self._reply(HTTPStatus.OK, json_format.MessageToJson(result), content_type="application/json")

    def _origin_allowed(self) -> bool:
        return self.server.origin is not None and self.headers.get("Origin") == self.server.origin

    def _cors(self) -> None:
        if self._origin_allowed():
            self.send_header("Access-Control-Allow-Origin", self.server.origin or "")
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Vary", "Origin")

    def _reply(self, status: HTTPStatus, body: str, content_type: str = "text/plain; charset=utf-8") -> None:
        data = body.encode()
        self.send_response(status)
        self._cors()
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Requests go to the logger, not to stderr."""
        log.info("%s %s", self.address_string(), format % args)
