"""A warm switchover of runbooks/shop-pair.yaml (standby.warm) on the real dev server, with real site workers and
processes: no acknowledged order is lost, db never answers at both sites, an abort before the source stops leaves
the shop serving where it was with nothing left at the target, and a new switchover then launches each machine once;
the target's worker SIGKILLed mid-cutover and restarted finishes it with each machine launched once, and an abort
mid-cutover (db promoted at dr, its identity not moved) records db down and the services at primary, leaves
nothing running at dr, and a new switchover, which cannot start warm with db down, recovers cold and completes.
"""

import asyncio
import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.client import HTTPException
from pathlib import Path

import yaml

from bench.availability import Writer, lost
from bench.cluster import Cluster, free_ports, http, order, pair_runbook
from standby import client as temporal
from standby.contracts.operations import OperationResult, Progress
from standby.contracts.state import OperationRequest
from standby.loader import load
from standby.runbook import LocalSite, Runbook
from tests.ops_helpers import answer_prompt, finished, launches, progress, reports_one_at_a_time, waiting_prompt
from tests.ports import free_block

PROMPT = "warm services ready"


PROMOTED = "db promoted at dr"


async def _cluster(temporal_env, tmp_path: Path, state_dir: Path, prompt: str = "") -> Cluster:
    ports = free_ports(free_block)
    runbook = pair_runbook(tmp_path, ports)
    if prompt:
        runbook = _with_prompt(tmp_path / f"{runbook.runbook}.yaml", prompt)
    cluster = Cluster(temporal_env.client, f"warm-{uuid.uuid4()}", state_dir, runbook, ports, tmp_path)
    await cluster.start()
    await cluster.protect()
    return cluster


def _with_prompt(path: Path, prompt: str) -> Runbook:
    """The runbook with a prompt in a switchover: PROMPT in its warm phase, after db is warm, before api and web
    start; PROMOTED in its cutover, once db is promoted at dr, before its health and its identity move."""
    at = "before_group:services" if prompt == PROMPT else "post_launch:db"
    document = yaml.safe_load(path.read_text())
    document["hooks"].append({"at": at, "prompt": prompt, "operations": ["switchover"]})
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load(path)


def _by_key(state_dir: Path, runbook: str, site: str) -> list[dict[str, int]]:
    """The processes launches started at a site, per machine, one entry per operation key in the order they began."""
    log = state_dir / "runbooks" / runbook / "sites" / site / "launches.log"
    keys: dict[str, dict[str, int]] = {}
    for entry in map(json.loads, log.read_text().splitlines()):
        counts = keys.setdefault(entry["key"], {})
        counts[entry["machine"]] = counts.get(entry["machine"], 0) + 1
    return list(keys.values())


def _db_port(runbook: Runbook, site: str) -> int:
    config = runbook.sites[site]
    assert isinstance(config, LocalSite)
    return config.port_base + list(runbook.machines).index("db1")


class DbWatch:
    """Asks both sites' db processes for their orders, turn by turn, and keeps every turn in which both answered."""

    def __init__(self, runbook: Runbook):
        self.ports = {site: _db_port(runbook, site) for site in ("primary", "dr")}
        self.both: list[dict[str, int]] = []
        self.answered: dict[str, int] = dict.fromkeys(self.ports, 0)
        self.stop = threading.Event()

    def run(self) -> None:
        """Until told to stop."""
        while not self.stop.is_set():
            turn = {site: self._answers(port) for site, port in self.ports.items()}
            for site, status in turn.items():
                self.answered[site] += status == 200
            if all(status == 200 for status in turn.values()):
                self.both.append(turn)
            time.sleep(0.002)

    @staticmethod
    def _answers(port: int) -> int:
        try:
            return http("GET", port, "/orders", timeout=1)[0]
        except (OSError, HTTPException):
            return 0


@contextlib.contextmanager
def _running(*clients: Writer | DbWatch) -> Iterator[None]:
    """The clients' loops in threads of their own, stopped and joined on the way out."""
    threads = [threading.Thread(target=client.run, daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        for client in clients:
            client.stop.set()
        for thread in threads:
            thread.join(5)


async def _switchover(cluster: Cluster):
    ident = await temporal.start(cluster.client, cluster.settings, OperationRequest(
        operation="switchover", runbook=cluster.runbook, yes=True, requested_by="tester"))
    return cluster.client.get_workflow_handle(ident.workflow_id, result_type=OperationResult)


async def test_a_warm_switchover_loses_no_acknowledged_order_and_db_never_serves_at_both_sites(
        temporal_env, tmp_path: Path, state_dir: Path):
    cluster = await _cluster(temporal_env, tmp_path, state_dir)
    writer, watch = Writer(cluster.web), DbWatch(cluster.runbook)
    try:
        with _running(writer, watch):
            started = time.monotonic()
            handle = await _switchover(cluster)
            result = await finished(handle, 90)
            ended = time.monotonic()
            assert (result.state, result.to_site) == ("switched_over", "dr")
            # The direction's report, sent while the final state's step ran, before that state: not after it.
            assert await reports_one_at_a_time(cluster.client, handle.id) >= 3
            assert await lost(cluster, writer, ended) == 0
            status = await cluster.protected_again()
            assert {app.serving for app in status.truth.apps.values()} == {"dr"}
            deadline = time.monotonic() + 10
            while writer.first_after(ended) is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # an order placed just after the switchover may still be on its way
            assert writer.first_after(ended) is not None, "no order was acknowledged in 10 s after the switchover"
            print(f"warm switchover: longest time without an acknowledged order {writer.gap(started):.2f}s")
    finally:
        await cluster.close()
        cluster.stop_processes()
    assert watch.both == [], f"db answered at both sites: {watch.both[:5]}"
    assert watch.answered["primary"] and watch.answered["dr"], watch.answered
    key = f"standby/{cluster.runbook.runbook}/switchover/"
    assert launches(state_dir, cluster.runbook.runbook, "dr", key) == {"db1": 1, "app1": 1, "web1": 1}


async def test_an_abort_while_warm_leaves_the_shop_at_primary_and_nothing_at_dr_then_a_rerun_finishes(
        temporal_env, tmp_path: Path, state_dir: Path):
    cluster = await _cluster(temporal_env, tmp_path, state_dir, prompt=PROMPT)
    name = cluster.runbook.runbook
    try:
        handle = await _switchover(cluster)
        await waiting_prompt(cluster.client, handle, PROMPT, timeout=60)
        assert cluster.running()["dr"] == ["db1"], "db is not warm at dr while the switchover waits"
        await handle.cancel()
        status = await cluster.protected_again()
        assert {(app.phase, app.serving) for app in status.truth.apps.values()} == {("protected", "primary")}
        assert cluster.running() == {"primary": ["db1", "app1", "web1"], "dr": []}
        assert http("POST", cluster.web, "/orders", {"item": "after-abort", "qty": 1})[0] == 201

        again = await _switchover(cluster)
        await answer_prompt(cluster.client, again, PROMPT)
        assert (await finished(again, 90)).state == "switched_over"
        assert cluster.running() == {"primary": [], "dr": ["db1", "app1", "web1"]}
        assert _by_key(state_dir, name, "dr") == [{"db1": 1}, {"db1": 1, "app1": 1, "web1": 1}]
        status, orders = http("GET", cluster.db, "/orders")
        assert status == 200 and "after-abort" in [order["item"] for order in orders]
    finally:
        await cluster.close()
        cluster.stop_processes()


async def _until_progress(handle, done, timeout: float, what: str) -> Progress:
    """The operation's progress once `done(progress)` holds, polled often: a cutover takes well under a second."""
    deadline = time.monotonic() + timeout
    while not done(current := await progress(handle)):
        assert time.monotonic() < deadline, f"not {what} within {timeout}s: {current.model_dump_json(indent=1)}"
        await asyncio.sleep(0.005)
    return current


async def test_the_targets_worker_killed_mid_cutover_and_restarted_finishes_it_launching_each_machine_once(
        temporal_env, tmp_path: Path, state_dir: Path):
    cluster = await _cluster(temporal_env, tmp_path, state_dir)
    writer, watch = Writer(cluster.web), DbWatch(cluster.runbook)
    try:
        with _running(writer, watch):
            handle = await _switchover(cluster)
            at = await _until_progress(handle, lambda p: p.groups.get("data") in ("cutting over", "recovered"), 90,
                                       "cutting data over")
            assert at.groups["data"] == "cutting over", f"the cutover of data ended before the kill: {at.groups}"
            worker = cluster.workers.pop("dr")
            worker.kill()
            worker.wait()
            assert "db1" not in cluster.running()["primary"], "db still runs at primary while data cuts over"
            cluster.start_worker("dr")
            result = await finished(handle, 120)
            ended = time.monotonic()
            assert (result.state, result.to_site) == ("switched_over", "dr")
            assert await reports_one_at_a_time(cluster.client, handle.id) >= 3
            assert await lost(cluster, writer, ended) == 0
            status = await cluster.protected_again()
            assert {app.serving for app in status.truth.apps.values()} == {"dr"}
            assert cluster.running() == {"primary": [], "dr": ["db1", "app1", "web1"]}
    finally:
        await cluster.close()
        cluster.stop_processes()
    assert watch.both == [], f"db answered at both sites: {watch.both[:5]}"
    assert _by_key(state_dir, cluster.runbook.runbook, "dr") == [{"db1": 1, "app1": 1, "web1": 1}]


async def test_an_abort_mid_cutover_records_db_down_leaves_nothing_at_dr_and_a_rerun_recovers_cold(
        temporal_env, tmp_path: Path, state_dir: Path):
    cluster = await _cluster(temporal_env, tmp_path, state_dir, prompt=PROMOTED)
    name = cluster.runbook.runbook
    try:
        handle = await _switchover(cluster)
        await waiting_prompt(cluster.client, handle, PROMOTED, timeout=60)
        assert cluster.running() == {"primary": ["app1", "web1"], "dr": ["db1", "app1", "web1"]}
        await handle.cancel()
        status = await cluster.until(lambda s: s.truth.operation is None, 60, "free after the abort")
        serving = {app: state.serving for app, state in status.truth.apps.items()}
        assert serving == {"db": None, "api": "primary", "web": "primary"}, status.truth.apps
        # Nothing serves at dr: what was started there warm, db promoted too, is stopped by the plan's `always`.
        assert cluster.running() == {"primary": ["app1", "web1"], "dr": []}
        assert not order(cluster.web, "after-abort"), "an order was acknowledged while db serves nowhere"

        again = await _switchover(cluster)
        await answer_prompt(cluster.client, again, PROMOTED)  # db's post-launch hooks run in a cold recovery too
        result = await finished(again, 120)
        assert (result.state, result.to_site) == ("switched_over", "dr")
        assert not any(step.name.startswith("start group") for step in result.steps), "the rerun started warm"
        status = await cluster.protected_again()
        assert {app.serving for app in status.truth.apps.values()} == {"dr"}
        assert cluster.running() == {"primary": [], "dr": ["db1", "app1", "web1"]}
        assert order(cluster.web, "after-rerun"), "the shop takes no order after the rerun"
    finally:
        await cluster.close()
        cluster.stop_processes()
    assert _by_key(state_dir, name, "dr") == [{"db1": 1, "app1": 1, "web1": 1}] * 2
