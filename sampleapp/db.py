"""The shop's database: orders in one append-only log of checksummed JSON lines, fsynced before each answer."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sampleapp.service import Handler, Reply, Request, arguments, json_reply, parse_json, serve

LOG_NAME = "orders.log"
Order = dict[str, Any]

log = logging.getLogger("sampleapp")
_ORDER_PATH = re.compile(r"^/orders/(\d+)$")


def _canonical(value: dict[str, Any]) -> bytes:
    """The one byte form of a record that the checksum covers."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def encode_line(order: Order) -> bytes:
    """The log line of an order: its fields plus the crc32 of their canonical form."""
    return _canonical({**order, "crc": zlib.crc32(_canonical(order))}) + b"\n"


def decode_line(line: bytes, expected_id: int) -> Order | None:
    """The order a complete log line holds, or None when the line is torn, corrupt or out of sequence."""
    if not line.endswith(b"\n"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict) or set(value) != {"id", "item", "qty", "crc"}:
        return None
    crc = value.pop("crc")
    if crc != zlib.crc32(_canonical(value)) or value["id"] != expected_id:
        return None
    return value


def read_log(path: Path) -> tuple[list[Order], int]:
    """The orders of the log's longest valid prefix, and that prefix's length in bytes."""
    orders: list[Order] = []
    valid = 0
    with path.open("rb") as file:
        for line in file:
            order = decode_line(line, len(orders) + 1)
            if order is None:
                break
            orders.append(order)
            valid += len(line)
    return orders, valid


def recover(path: Path) -> list[Order]:
    """Reads the log, cutting off a torn or invalid tail so that only a consistent prefix remains."""
    if not path.exists():
        path.touch()
        # the new directory entry must be durable too, or an fsynced append could vanish with it
        _fsync_directory(path.parent)
    orders, valid = read_log(path)
    size = path.stat().st_size
    if size > valid:
        log.warning("%s: dropping %d bytes of torn or invalid tail after order %d", path, size - valid, len(orders))
        with path.open("r+b") as file:
            file.truncate(valid)
            os.fsync(file.fileno())
    return orders


def _fsync_directory(directory: Path) -> None:
    """Makes the directory's entries durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class OrderLog:
    """The orders in memory, backed by the append-only log; writes are serialized and durable when they return."""

    def __init__(self, path: Path) -> None:
        """Recovers the log at `path` and opens it for appending."""
        self._orders = recover(path)
        self._lock = threading.Lock()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size

    def append(self, item: str, qty: int) -> Order:
        """Appends an order with the next id; returns only after the line is on disk."""
        with self._lock:
            order: Order = {"id": len(self._orders) + 1, "item": item, "qty": qty}
            line = encode_line(order)
            try:
                self._write_all(line)
                os.fsync(self._fd)
            except OSError:
                # a half-written line followed by a good one would hide the good one at the next start
                os.ftruncate(self._fd, self._size)
                raise
            self._size += len(line)
            self._orders.append(order)
            return order

    def _write_all(self, data: bytes) -> None:
        """Writes every byte, however the kernel splits the write."""
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def orders(self) -> list[Order]:
        """A copy of every order, oldest first."""
        with self._lock:
            return list(self._orders)

    def get(self, order_id: int) -> Order | None:
        """The order with this id, or None."""
        with self._lock:
            return self._orders[order_id - 1] if 1 <= order_id <= len(self._orders) else None


def _valid_order(body: bytes) -> tuple[str, int] | None:
    """The item and quantity of a POSTed order, or None when the body is not a valid order."""
    value = parse_json(body)
    if not isinstance(value, dict):
        return None
    item, qty = value.get("item"), value.get("qty")
    if not isinstance(item, str) or not item or type(qty) is not int or qty < 1:
        return None
    return item, qty


def handler(orders: OrderLog) -> Handler:
    """The db's routes: /health, GET and POST /orders, GET /orders/<id>."""

    def handle(request: Request) -> Reply:
        match = _ORDER_PATH.match(request.path)
        if request.method == "GET" and request.path == "/health":
            return json_reply(200, {"status": "ok", "orders": len(orders.orders())})
        if request.method == "GET" and request.path == "/orders":
            return json_reply(200, orders.orders())
        if request.method == "GET" and match:
            found = orders.get(int(match.group(1)))
            return json_reply(200, found) if found else json_reply(404, {"error": "no such order"})
        if request.method == "POST" and request.path == "/orders":
            valid = _valid_order(request.body)
            if valid is None:
                return json_reply(400, {"error": 'expected {"item": non-empty string, "qty": positive integer}'})
            return json_reply(201, orders.append(*valid))
        return json_reply(404, {"error": f"no route {request.method} {request.path}"})

    return handle


class Promotable:
    """A warm standby db: it answers 503 and leaves its data alone until promoted, then serves the log."""

    def __init__(self, data: Path) -> None:
        """The db whose log will be in `data` once promoted."""
        self._data = data
        self._lock = threading.Lock()
        self._handle: Handler | None = None

    def promote(self) -> None:
        """Opens the log (recovering it) and serves it; a second promote changes nothing."""
        with self._lock:
            if self._handle is None:
                self._data.mkdir(parents=True, exist_ok=True)
                self._handle = handler(OrderLog(self._data / LOG_NAME))
                log.info("promoted: serving %s", self._data / LOG_NAME)

    def __call__(self, request: Request) -> Reply:
        """The db's answer once promoted; 503 before."""
        handle = self._handle
        if handle is None:
            return json_reply(503, {"status": "standby", "error": "a warm standby, not promoted yet"})
        return handle(request)


def main(argv: Sequence[str] | None = None) -> None:
    """Runs the db service (with --standby: warm, promoted by SIGUSR1)."""
    args = arguments("db", "The sample shop's order database.", None, argv, standby=True)
    if args.standby:
        db = Promotable(args.data)
        # Off the signal handler: opening the log takes locks the interrupted thread may hold.
        signal.signal(signal.SIGUSR1, lambda _s, _f: threading.Thread(target=db.promote, daemon=True).start())
        serve("db", args.port, db)
        return
    args.data.mkdir(parents=True, exist_ok=True)
    serve("db", args.port, handler(OrderLog(args.data / LOG_NAME)))


if __name__ == "__main__":
    main()
