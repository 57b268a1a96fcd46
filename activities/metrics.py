"""Standby's Prometheus metrics, measured on the worker where each thing happens, served by prometheus_client.

- replication lag, recovery point age and the bytes replication moved per machine: set by the replication
  activities on the worker of the site replicated into, from what its provider measured; a point's age is
  computed at each scrape;
- time since the last passing drill per runbook: read from the runbooks' owners every few seconds
  (`OwnerWatch`), since a drill's verdict lives in its owner's truth, not on any one worker;
- remediation actions taken: counted by the remediation activities that took them.

Operation durations and results are recorded by the operations themselves (workflows/metrics.py) through
the SDK's meter, which alone is safe in workflow code; they show on the SDK's endpoint.
"""

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from temporalio.client import Client
from temporalio.service import RPCError

from standby.contracts.protect import OwnerStatus
from standby.contracts.sites import MachineReplication, ReplicationInput, Transfer

REGISTRY = CollectorRegistry()
REPLICATION_LABELS = ("runbook", "machine", "source", "site")
# How often a worker reads every owner's last drill: fresh enough for an alert rule measured in hours or days.
WATCH_SECONDS = 15.0
_BYTES = (
    ("changed_bytes", "standby_replication_changed_bytes",
     "bytes of data the replica did not hold yet, over every pass from this source"),
    ("files_bytes", "standby_replication_whole_file_bytes",
     "bytes a copy of each changed file whole would have sent, over every pass from this source"),
    ("sent_bytes", "standby_replication_sent_bytes",
     "bytes that crossed between the sites (both ways, compressed), over every pass from this source"),
)


@dataclass(frozen=True)
class _Measured:
    continuous: bool
    lag_seconds: float | None
    latest_point: datetime | None
    points: int
    total: Transfer | None


class ReplicationCollector(Collector):
    """The last replication state each machine's site worker measured; point ages as of the scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._machines: dict[tuple[str, str, str, str], _Measured] = {}

    def update(self, inp: ReplicationInput, states: list[MachineReplication]) -> None:
        """What one replication activity measured of the machines it replicated."""
        with self._lock:
            for state in states:
                key = (inp.target.runbook, state.machine, inp.source.name, inp.target.name)
                self._machines[key] = _Measured(state.phase == "continuous", state.lag_seconds, state.latest_point,
                                                state.points, state.total)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges, with every machine's point age computed now."""
        lag = GaugeMetricFamily("standby_replication_lag_seconds", "how far the replica is behind its source",
                                labels=REPLICATION_LABELS)
        age = GaugeMetricFamily("standby_recovery_point_age_seconds",
                                "age of the newest recovery point: the data a failover now would lose at most",
                                labels=REPLICATION_LABELS)
        points = GaugeMetricFamily("standby_recovery_points", "recovery points kept", labels=REPLICATION_LABELS)
        continuous = GaugeMetricFamily("standby_replication_continuous", "1 while in continuous data protection",
                                       labels=REPLICATION_LABELS)
        now = time.time()
        with self._lock:
            measured = dict(self._machines)
        for key, value in measured.items():
            labels = list(key)
            if value.lag_seconds is not None:
                lag.add_metric(labels, value.lag_seconds)
            if value.latest_point is not None:
                age.add_metric(labels, max(0.0, now - value.latest_point.timestamp()))
            points.add_metric(labels, value.points)
            continuous.add_metric(labels, 1.0 if value.continuous else 0.0)
        yield from (lag, age, points, continuous, *self._bytes(measured))

    @staticmethod
    def _bytes(measured: dict[tuple[str, str, str, str], _Measured]) -> Iterator[GaugeMetricFamily]:
        """Every pass's bytes since replication from the source began, as `standby status` shows their total.

        Gauges, not counters: a direction set from another source and back counts afresh, as status does.
        """
        for field, name, meaning in _BYTES:
            gauge = GaugeMetricFamily(name, meaning, labels=REPLICATION_LABELS)
            for key, value in measured.items():
                if value.total is not None:
                    gauge.add_metric(list(key), getattr(value.total, field))
            yield gauge


class DrillCollector(Collector):
    """Each runbook's last drill and last passing drill, as its owner holds them; ages as of the scrape."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runbooks: dict[str, OwnerStatus] = {}

    def update(self, status: OwnerStatus) -> None:
        """An owner's status, as a watch read it."""
        with self._lock:
            self._runbooks[status.truth.runbook] = status

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Seconds since the last passing drill, and whether the last drill passed, per runbook."""
        since = GaugeMetricFamily("standby_seconds_since_passed_drill", "time since the runbook's last passing drill",
                                  labels=("runbook",))
        passed = GaugeMetricFamily("standby_last_drill_passed", "1 if the runbook's last drill passed, 0 if it failed",
                                   labels=("runbook",))
        now = time.time()
        with self._lock:
            statuses = list(self._runbooks.values())
        for status in statuses:
            truth = status.truth
            if truth.last_passed_drill is not None:
                since.add_metric([truth.runbook], max(0.0, now - truth.last_passed_drill.time.timestamp()))
            if truth.last_drill is not None:
                passed.add_metric([truth.runbook], 1.0 if truth.last_drill.passed else 0.0)
        yield from (since, passed)


REPLICATION = ReplicationCollector()
DRILLS = DrillCollector()
REGISTRY.register(REPLICATION)
REGISTRY.register(DRILLS)
REMEDIATIONS = Counter("standby_remediation_actions", "remediation actions taken, by result",
                       ("runbook", "site", "action", "result"), registry=REGISTRY)


def serve(address: str, port: int) -> tuple[object, threading.Thread]:
    """Serve Standby's metrics on http://address:port/metrics in a thread; the server (call shutdown()) and thread."""
    return start_http_server(port, address, registry=REGISTRY)


class OwnerWatch:
    """Reads the status of every running owner on a task queue every `every` seconds, for the drill gauges."""

    def __init__(self, client: Client, task_queue: str, every: float = WATCH_SECONDS):
        self.client, self.task_queue, self.every = client, task_queue, every

    async def run(self) -> None:
        """Until cancelled; an owner that does not answer keeps its last reading."""
        query = f"WorkflowType = 'Runbook' AND ExecutionStatus = 'Running' AND TaskQueue = '{self.task_queue}'"
        while True:
            try:
                async for execution in self.client.list_workflows(query):
                    await self._read(execution.id)
            except RPCError as error:
                logging.warning("metrics: cannot list runbooks' owners: %s", error)
            await asyncio.sleep(self.every)

    async def _read(self, owner: str) -> None:
        try:
            DRILLS.update(await self.client.get_workflow_handle(owner).query("status", result_type=OwnerStatus))
        except Exception as error:  # a busy or old owner must not stop the watch of the others
            logging.warning("metrics: %s did not answer its status: %s", owner, error)
