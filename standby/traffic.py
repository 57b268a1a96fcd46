"""Live traffic for the demo: a writer of uniquely named orders and a watcher of each app's health.

Both run in threads against the public endpoints, so what they record is what
a user of the shop saw: which writes were acknowledged, and when each app
answered healthy again after a disaster.
"""

import json
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any


def _request(url: str, body: dict[str, Any] | None = None, timeout: float = 2.0) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""
    except OSError:
        return 0, b""


class _Loop:
    """A step repeated in a background thread until stopped."""

    every: float
    _stop: threading.Event
    _thread: threading.Thread | None

    def _begin(self) -> None:
        self._stop, self._thread = threading.Event(), threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop; the step in flight completes first."""
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._step()
            time.sleep(self.every)

    def _step(self) -> None:
        raise NotImplementedError


@dataclass
class Writer(_Loop):
    """Posts orders `demo-1`, `demo-2`, ... through the public web endpoint and records the acknowledged ones."""

    url: str
    every: float = 0.05
    acknowledged: list[str] = field(default_factory=list)
    failed: int = 0
    _next: int = 1

    def start(self) -> None:
        """Begin writing in a background thread."""
        self._begin()

    def _step(self) -> None:
        # Every attempt writes a new item: a write that timed out may still have become durable.
        item, self._next = f"demo-{self._next}", self._next + 1
        status, _ = _request(f"{self.url}/orders", {"item": item, "qty": 1})
        if status == 201:
            self.acknowledged.append(item)
        else:
            self.failed += 1


def served_items(api_url: str) -> list[str] | None:
    """Items the shop serves now, in order, or None when it does not answer."""
    status, body = _request(f"{api_url}/orders", timeout=5)
    return [order["item"] for order in json.loads(body)] if status == 200 else None


@dataclass
class DataCheck:
    """Acknowledged writes against served ones: lost writes may only be the newest (a consistent prefix)."""

    acknowledged: int
    served: int
    lost: list[str]
    passed: bool
    detail: str


def check_data(acknowledged: list[str], served: list[str]) -> DataCheck:
    """Passed when the served orders begin with every acknowledged write but a tail, in order, unchanged."""
    served_acknowledged = [item for item in served if item in set(acknowledged)]
    prefix = acknowledged[: len(served_acknowledged)]
    lost = acknowledged[len(served_acknowledged):]
    passed = served_acknowledged == prefix
    detail = (f"{len(served_acknowledged)} of {len(acknowledged)} acknowledged writes served in order"
              if passed else "served orders are not a prefix of the acknowledged writes")
    return DataCheck(len(acknowledged), len(served), lost, passed, detail)


@dataclass
class HealthWatch(_Loop):
    """Polls each app's public /health and records the first healthy answer after `since`."""

    ports: dict[str, int]
    every: float = 0.1
    healthy_at: dict[str, float] = field(default_factory=dict)
    since: float = 0.0

    def start(self, since: float) -> None:
        """Watch from the moment `since` (time.monotonic) until stopped."""
        self.since, self.healthy_at = since, {}
        self._begin()

    def _step(self) -> None:
        for app, port in self.ports.items():
            if app not in self.healthy_at and _request(f"http://127.0.0.1:{port}/health", timeout=0.5)[0] == 200:
                self.healthy_at[app] = time.monotonic()

    def rto(self) -> dict[str, float]:
        """Seconds from `since` until each app answered healthy."""
        return {app: round(at - self.since, 3) for app, at in self.healthy_at.items()}
