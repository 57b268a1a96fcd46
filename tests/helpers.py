"""Helpers the end-to-end tests share: polling instead of sleeping, and the sample shop's HTTP calls."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def eventually(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, what: str = "") -> T:
    """Calls `predicate` until it returns something truthy, and returns that; AssertionError after `timeout`.

    An exception the predicate raises counts as "not yet"; the last value or exception is in the failure message.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            value, last = predicate(), None
        except Exception as error:
            value, last = None, error
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what or 'condition'} not met within {timeout}s; last: {last or value!r}")
        time.sleep(interval)


async def eventually_async(predicate: Callable[[], T | Awaitable[T]], timeout: float = 10.0, interval: float = 0.1,
                           what: str = "") -> T:
    """`eventually` for async code: the predicate may be a coroutine function; the event loop keeps running."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            last = None
        except Exception as error:
            value, last = None, error
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what or 'condition'} not met within {timeout}s; last: {last or value!r}")
        await asyncio.sleep(interval)


def http(method: str, port: int, path: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
    """One request to 127.0.0.1:port; returns the status and the JSON body (the text when it is not JSON)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            status, raw = answer.status, answer.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def get_json(port: int, path: str, timeout: float = 5.0) -> Any:
    """GET a path that must answer 200; its JSON body."""
    status, value = http("GET", port, path, timeout=timeout)
    assert status == 200, f"GET :{port}{path} answered {status}: {value}"
    return value


def post_order(port: int, item: str, qty: int = 1, timeout: float = 5.0) -> dict[str, Any]:
    """POST an order to a db, api or web port; the acknowledged order (status 201 required)."""
    status, value = http("POST", port, "/orders", {"item": item, "qty": qty}, timeout=timeout)
    assert status == 201, f"POST :{port}/orders answered {status}: {value}"
    return value


def get_orders(port: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Every order a db or api port serves, oldest first."""
    return get_json(port, "/orders", timeout=timeout)
