"""The `local` site provider, called directly: idempotent launches, isolated drills, stops, replication, retention."""

from __future__ import annotations

import asyncio
import hashlib
import http.client as http_client
import json
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import ActivityEnvironment

from activities import metrics
from activities.sites.activities import SiteActivities
from activities.sites.local import PROVIDER as LOCAL
from activities.sites.local import replication
from activities.sites.local.processes import free_port, is_running, port_open, read_pid_file, running_pid
from activities.sites.local.provider import LocalSiteProvider
from activities.sites.local.status import machine_state
from activities.sites.registry import Providers
from sampleapp.db import LOG_NAME, encode_line, read_log
from standby.contracts.local_layout import Layout
from standby.contracts.sites import (
    AppInput,
    AppRef,
    DirectionInput,
    IdentityInput,
    LaunchInput,
    MachineRef,
    PointsInput,
    ReplicationInput,
    SiteRef,
    Target,
    TerminateInput,
    app_places,
    app_ref,
    machine_refs,
    public_ports,
    site_ref,
)
from standby.loader import load
from standby.runbook import Runbook
from tests.helpers import eventually, get_json, get_orders, http, post_order

T0 = datetime(2030, 1, 10, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand, injected into the provider."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class Shop:
    """The shop runbook on free ports, with a provider per site sharing one state folder."""

    runbook: Runbook
    layout: Layout
    primary: LocalSiteProvider
    dr: LocalSiteProvider

    def site(self, name: str) -> SiteRef:
        return site_ref(self.runbook, name)

    def app(self, name: str) -> AppRef:
        return app_ref(self.runbook, name)

    def machine(self, name: str) -> MachineRef:
        return machine_refs(self.runbook, [name])[0]

    def replication_input(self, apps: tuple[str, ...] = ("db",), seconds: float = 0) -> ReplicationInput:
        machines = [m for a in apps for m in self.runbook.apps[a].machines]
        return ReplicationInput(source=self.site("primary"), target=self.site("dr"),
                                machines=machine_refs(self.runbook, machines),
                                retention=self.runbook.protection.recovery_points,
                                apps=[self.app(a) for a in apps], seconds=seconds)

    async def start_db(self) -> Target:
        """The db at primary from its own data folder, as protection brings it up."""
        inp = AppInput(site=self.site("primary"), app=self.app("db"), endpoints=public_ports(self.runbook))
        [target] = await self.primary.start_app(inp)
        return target

    async def latest_point(self, machine: str = "db1"):
        points = await self.dr.recovery_points(PointsInput(source=self.site("primary"), target=self.site("dr"),
                                                           machine=self.machine(machine)))
        assert points, f"no recovery point of {machine} at dr"
        return points[-1]

    def launch_input(self, key: str, mode: str, point) -> LaunchInput:
        return LaunchInput(key=key, site=self.site("dr"), source=self.site("primary"), app=self.app("db"),
                           machine=self.machine("db1"), mode=mode, point=point, endpoints=public_ports(self.runbook))


@pytest.fixture
def shop(shop_file: Path, state_dir: Path) -> Shop:
    runbook = load(shop_file)
    providers = [LocalSiteProvider(site_ref(runbook, name), state_dir) for name in ("primary", "dr")]
    return Shop(runbook, Layout(state_dir, runbook.runbook), *providers)


async def replicated_shop(shop: Shop, orders: list[str]) -> Target:
    """The db running at primary with `orders`, and one recovery point of them at dr."""
    target = await shop.start_db()
    for item in orders:
        await asyncio.to_thread(post_order, target.port, item)
    await shop.dr.replicate(shop.replication_input())
    return target


def digest(folder: Path) -> dict[str, tuple[int, str]]:
    """Each file of a folder with its inode and content hash."""
    return {str(p.relative_to(folder)): (p.stat().st_ino, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def point_digests(layout: Layout) -> dict[str, dict[str, tuple[int, str]]]:
    """`digest` of every recovery point of db1 at dr."""
    return {p.path.name: digest(p.path) for p in replication.list_points(layout.points("dr", "db1"))}


def launches(layout: Layout, site: str) -> list[dict]:
    path = layout.launches(site)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- launch, terminate, stop ---------------------------------------------------------------------------------------


async def test_a_second_launch_with_the_same_key_finds_the_first_process(shop: Shop) -> None:
    await replicated_shop(shop, ["a", "b"])
    point = await shop.latest_point()
    key = "standby/shop/failover"

    first = await shop.dr.launch(shop.launch_input(key, "recovery", point))
    pid = running_pid(shop.layout.pid("dr", "db1"))
    second = await shop.dr.launch(shop.launch_input(key, "recovery", point))

    assert first.launched and not second.launched
    assert second.port == first.port == shop.runbook.sites["dr"].port_base + 0
    assert running_pid(shop.layout.pid("dr", "db1")) == pid
    assert [entry["key"] for entry in launches(shop.layout, "dr")] == [key]


async def test_concurrent_launches_with_the_same_key_start_one_process(shop: Shop) -> None:
    """A retried launch may overlap the first try (a slow worker): still one process, one launch logged."""
    await replicated_shop(shop, ["a"])
    point = await shop.latest_point()
    key = "standby/shop/failover"

    both = await asyncio.gather(*(shop.dr.launch(shop.launch_input(key, "recovery", point)) for _ in range(2)))

    assert {t.port for t in both} == {shop.runbook.sites["dr"].port_base}
    assert len(launches(shop.layout, "dr")) == 1, launches(shop.layout, "dr")
    assert sorted(t.launched for t in both) == [False, True]


async def test_a_test_launch_runs_isolated_from_a_copy_and_terminate_removes_it(shop: Shop) -> None:
    source = await replicated_shop(shop, ["a", "b"])
    point = await shop.latest_point()
    point_folder = shop.layout.points("dr", "db1") / point.id
    before = digest(point_folder)
    source_before = digest(shop.layout.data("primary", "db1"))
    key = "standby/shop/drill/run-1"

    target = await shop.dr.launch(shop.launch_input(key, "test", point))

    dr_site = shop.runbook.sites["dr"]
    assert target.mode == "test" and target.port == dr_site.test_ports_from() + 0
    assert target.port != dr_site.port_base and not port_open(dr_site.port_base)
    assert [o["item"] for o in get_orders(target.port)] == ["a", "b"]
    await asyncio.to_thread(post_order, target.port, "drill-only")
    assert [o["item"] for o in get_orders(target.port)] == ["a", "b", "drill-only"]
    assert digest(point_folder) == before, "the drill wrote into the recovery point"
    assert digest(shop.layout.data("primary", "db1")) == source_before
    assert [o["item"] for o in get_orders(source.port)] == ["a", "b"]
    assert not shop.layout.data("dr", "db1").exists(), "a test launch touched the site's live data folder"
    test_folder = shop.layout.test_machine("dr", key, "db1")
    assert (test_folder / "data" / LOG_NAME).stat().st_ino not in {ino for ino, _ in before.values()}

    removed = await shop.dr.terminate(TerminateInput(site=shop.site("dr"), key=key))

    assert removed == ["dr/db1"]
    assert not port_open(target.port)
    assert not test_folder.exists()
    assert not (shop.layout.targets("dr") / "standby_shop_drill_run-1").exists()
    assert digest(point_folder) == before
    assert await shop.dr.terminate(TerminateInput(site=shop.site("dr"), key=key)) == []


async def test_a_drill_target_given_the_apps_places_reaches_its_peers_drill_targets(shop: Shop) -> None:
    await shop.start_db()
    await shop.primary.start_app(AppInput(site=shop.site("primary"), app=shop.app("api"),
                                          endpoints=public_ports(shop.runbook)))
    await shop.dr.replicate(shop.replication_input(("db", "api")))
    key, places = "standby/shop/drill/run-1", app_places(shop.runbook)

    async def launch(app: str, machine: str) -> Target:
        return await shop.dr.launch(LaunchInput(
            key=key, site=shop.site("dr"), source=shop.site("primary"), app=shop.app(app),
            machine=shop.machine(machine), mode="test", point=await shop.latest_point(machine),
            endpoints=public_ports(shop.runbook), places=places))

    db, api = await launch("db", "db1"), await launch("api", "app1")

    assert db.port == shop.runbook.sites["dr"].test_ports_from() + places["db"]
    # Nothing answers on the public endpoints: a healthy api reached the db's drill target.
    assert await asyncio.to_thread(http, "GET", api.port, "/health") == (200, {"status": "ok"})
    assert sorted(await shop.dr.terminate(TerminateInput(site=shop.site("dr"), key=key))) == ["dr/app1", "dr/db1"]


async def test_a_recovery_launch_serves_the_point_on_the_sites_own_ports(shop: Shop) -> None:
    source = await replicated_shop(shop, ["a", "b"])
    await asyncio.to_thread(post_order, source.port, "after the point")
    point = await shop.latest_point()

    target = await shop.dr.launch(shop.launch_input("standby/shop/failover", "recovery", point))

    assert (target.site, target.mode, target.point_id) == ("dr", "recovery", point.id)
    assert target.port == shop.runbook.sites["dr"].port_base + 0
    assert [o["item"] for o in get_orders(target.port)] == ["a", "b"]
    assert (shop.layout.data("dr", "db1") / LOG_NAME).exists()


async def test_a_launch_from_a_missing_point_fails_for_good(shop: Shop) -> None:
    from activities.sites.base import PermanentProviderError

    await replicated_shop(shop, ["a"])
    gone = (await shop.latest_point()).model_copy(update={"id": "20000101T000000.000000Z"})
    with pytest.raises(PermanentProviderError, match=r"recovery point .* is gone \[site=dr"):
        await shop.dr.launch(shop.launch_input("standby/shop/failover", "recovery", gone))
    assert not port_open(shop.runbook.sites["dr"].port_base)


STUBBORN = """
import signal, socket, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
server = socket.socket()
server.bind(("127.0.0.1", int(sys.argv[1])))
server.listen()
time.sleep(120)
"""


def stubborn_runbook(tmp_path: Path) -> Runbook:
    """A runbook whose one app ignores SIGTERM and has a 1 s stop timeout."""
    document = {
        "runbook": "stubborn",
        "sites": {"primary": {"provider": "local", "port_base": free_port()},
                  "dr": {"provider": "local", "port_base": free_port()}},
        "protection": {"source": "primary", "target": "dr"},
        "machines": {"m1": {}},
        "apps": {"stubborn": {"machines": ["m1"], "start": ["{{ python }}", "-c", STUBBORN, "{{ port }}"],
                              "stop_timeout": "1s"}},
        "groups": [{"name": "all", "apps": ["stubborn"]}],
    }
    path = tmp_path / "stubborn.yaml"
    path.write_text(json.dumps(document))
    return load(path)


async def test_stop_kills_an_app_that_ignores_sigterm_after_its_stop_timeout(tmp_path: Path, state_dir: Path) -> None:
    runbook = stubborn_runbook(tmp_path)
    provider = LocalSiteProvider(site_ref(runbook, "primary"), state_dir)
    inp = AppInput(site=site_ref(runbook, "primary"), app=app_ref(runbook, "stubborn"))
    [target] = await provider.start_app(inp)
    pid_file = Layout(state_dir, "stubborn").pid("primary", "m1")
    record = read_pid_file(pid_file)
    assert record is not None and port_open(target.port)

    started = time.monotonic()
    result = await provider.stop_app(inp)
    took = time.monotonic() - started

    assert result.outcome == {"m1": "killed"}
    # Killed only after the app's stop timeout: SIGTERM first, SIGKILL once the timeout passed.
    assert took >= 1.0, f"killed after {took:.2f}s, before the 1s stop timeout"
    assert not Path(f"/proc/{record.pid}").exists(), "the process (or its zombie) is still there"
    assert not port_open(target.port)
    assert (await provider.stop_app(inp)).outcome == {"m1": "not running"}


async def test_stop_of_an_app_that_honours_sigterm_is_a_clean_stop(shop: Shop) -> None:
    target = await replicated_shop(shop, ["kept"])
    inp = AppInput(site=shop.site("primary"), app=shop.app("db"))

    started = time.monotonic()
    assert (await shop.primary.stop_app(inp)).outcome == {"db1": "stopped"}

    assert time.monotonic() - started < 2.0
    assert not port_open(target.port)
    orders, _ = read_log(shop.layout.data("primary", "db1") / LOG_NAME)
    assert [o["item"] for o in orders] == ["kept"]


# --- replication state and retention -------------------------------------------------------------------------


def write_orders(folder: Path, items: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = b"".join(encode_line({"id": i, "item": item, "qty": 1}) for i, item in enumerate(items, 1))
    (folder / LOG_NAME).write_bytes(lines)


async def test_replication_phases_follow_the_passes(shop_file: Path, state_dir: Path) -> None:
    runbook = load(shop_file)
    clock = Clock(T0)
    dr = LocalSiteProvider(site_ref(runbook, "dr"), state_dir, clock=clock)
    layout = Layout(state_dir, "shop")
    inp = ReplicationInput(source=site_ref(runbook, "primary"), target=site_ref(runbook, "dr"),
                           machines=machine_refs(runbook, ["db1"]), seconds=0)

    async def phase():
        [state] = await dr.replication(inp)
        return state

    first = await phase()
    assert (first.phase, first.points, first.latest_point) == ("initiating", 0, None)
    assert "no replication pass from primary" in first.detail

    [empty] = await dr.replicate(inp)
    assert empty.phase == "initiating" and "source has no data" in empty.detail

    write_orders(layout.data("primary", "db1"), ["a"])
    clock.advance(1)
    [synced] = await dr.replicate(inp)
    assert (synced.phase, synced.points, synced.latest_point, synced.lag_seconds) == ("continuous", 1, clock.now, 0)

    clock.advance(4)
    later = await phase()
    assert later.phase == "continuous" and later.lag_seconds == 4

    write_orders(layout.data("primary", "db1"), ["a", "b"])
    [second] = await dr.replicate(inp)
    # a new point; the previous one shares its 10-minute bucket, so retention keeps only the newer
    assert (second.phase, second.points, second.latest_point, second.lag_seconds) == ("continuous", 1, clock.now, 0)

    clock.advance(11)  # more than max(10 s, 5 replication intervals of 1 s) without a pass
    stalled = await phase()
    assert stalled.phase == "stalled" and stalled.lag_seconds == 11 and "no good pass for 11s" in stalled.detail
    assert stalled.latest_point == second.latest_point and stalled.points == 1

    [again] = await dr.replicate(inp)
    assert again.phase == "continuous" and again.lag_seconds == 0
    assert again.latest_point == second.latest_point, "an unchanged source makes no new point"

    # a failing pass keeps the last good one: lag grows from it, and the detail says why
    replication_source = layout.data("primary", "db1")
    replication_source.rename(replication_source.with_name("moved"))
    clock.advance(6)
    [failing] = await dr.replicate(inp)
    assert failing.phase == "continuous" and failing.lag_seconds == 6
    clock.advance(6)
    [failed] = await dr.replicate(inp)
    assert failed.phase == "stalled" and failed.lag_seconds == 12 and "source has no data yet" in failed.detail


async def test_a_direction_set_to_run_counts_no_pass_from_before(shop_file: Path, state_dir: Path) -> None:
    """Set again 3 s after its last pass (a return soon after a failover): not continuous until a pass of its own,
    else it would stall 7 s later without one."""
    runbook = load(shop_file)
    clock = Clock(T0)
    dr = LocalSiteProvider(site_ref(runbook, "dr"), state_dir, clock=clock)
    inp = ReplicationInput(source=site_ref(runbook, "primary"), target=site_ref(runbook, "dr"),
                           machines=machine_refs(runbook, ["db1"]), seconds=0)
    write_orders(Layout(state_dir, "shop").data("primary", "db1"), ["a"])
    [before] = await dr.replicate(inp)
    assert before.phase == "continuous"

    clock.advance(3)
    await dr.set_direction(DirectionInput(source=inp.source, target=inp.target, machines=inp.machines, running=True))
    [set_again] = await dr.replication(inp)
    assert (set_again.phase, set_again.points) == ("backlog", 1)
    assert set_again.detail == "no pass from primary since its direction was set"
    [passed] = await dr.replicate(inp)
    assert (passed.phase, passed.lag_seconds) == ("continuous", 0)

    clock.advance(3)
    await dr.set_direction(DirectionInput(source=inp.source, target=inp.target, machines=inp.machines, running=False))
    [paused] = await dr.replication(inp)
    assert (paused.phase, paused.lag_seconds) == ("continuous", 3), "a pause keeps what replicated before"


async def test_a_drain_returns_only_the_machines_left_behind_and_gauges_every_one(shop_file: Path,
                                                                                    state_dir: Path) -> None:
    """`behind_only` (a failover's drain): the result names what is not continuous, the worker's gauges all."""
    runbook = load(shop_file)
    inp = ReplicationInput(source=site_ref(runbook, "primary"), target=site_ref(runbook, "dr"),
                           machines=machine_refs(runbook, ["db1", "app1"]), seconds=0, behind_only=True)
    write_orders(Layout(state_dir, "shop").data("primary", "db1"), ["a"])
    replicate = SiteActivities(Providers(state_dir, [LOCAL])).replicate
    [behind] = await ActivityEnvironment().run(replicate, inp)
    assert (behind.machine, behind.phase) == ("app1", "initiating")
    continuous = {sample.labels["machine"]: sample.value for family in metrics.REPLICATION.collect()
                  if family.name == "standby_replication_continuous" for sample in family.samples
                  if sample.labels["runbook"] == "shop" and sample.labels["site"] == "dr"}
    assert continuous == {"db1": 1, "app1": 0}
    everyone = await ActivityEnvironment().run(replicate, inp.model_copy(update={"behind_only": False}))
    assert [(s.machine, s.phase) for s in everyone] == [("db1", "continuous"), ("app1", "initiating")]


def test_machine_state_is_a_function_of_the_records_and_now(state_dir: Path, shop_file: Path) -> None:
    """status.machine_state, driven with explicit times: a pass from another source does not count."""
    runbook = load(shop_file)
    layout = Layout(state_dir, "shop")
    db1 = machine_refs(runbook, ["db1"])[0]
    write_orders(layout.data("primary", "db1"), ["a"])
    points = layout.points("dr", "db1")
    replication.replicate_once(layout.data("primary", "db1"), points, T0)
    from activities.sites.local.status import record_pass

    record_pass(layout.last_pass("dr", "db1"), T0, "primary")

    assert machine_state(layout, "primary", "dr", db1, 1.0, T0 + timedelta(seconds=10)).phase == "continuous"
    assert machine_state(layout, "primary", "dr", db1, 1.0, T0 + timedelta(seconds=10.5)).phase == "stalled"
    # with a 5 s interval the limit is 5 intervals, 25 s
    assert machine_state(layout, "primary", "dr", db1, 5.0, T0 + timedelta(seconds=25)).phase == "continuous"
    assert machine_state(layout, "primary", "dr", db1, 5.0, T0 + timedelta(seconds=26)).phase == "stalled"
    reversed_ = machine_state(layout, "other", "dr", db1, 1.0, T0)
    assert reversed_.phase == "stalled" and "no replication pass from other" in reversed_.detail


async def test_retention_through_the_provider_prunes_exactly_what_the_policy_says(shop: Shop, state_dir: Path) -> None:
    """Policy of the shop: every 10 min for 1 h, hourly for 24 h, daily for 30 d (buckets in UTC)."""
    now = T0  # 12:00
    times = {
        "older than every window": now - timedelta(days=40),
        "day -5, 09:00": now - timedelta(days=5, hours=3),
        "day -5, 11:00": now - timedelta(days=5, hours=1),
        "08:30": now - timedelta(hours=3, minutes=30),
        "08:50": now - timedelta(hours=3, minutes=10),
        "11:35": now - timedelta(minutes=25),
        "11:38": now - timedelta(minutes=22),
        "11:55": now - timedelta(minutes=5),
    }
    source = shop.layout.data("primary", "db1")
    points_dir = shop.layout.points("dr", "db1")
    for index, moment in enumerate(sorted(times.values()), 1):
        write_orders(source, [f"order {n}" for n in range(index)])
        assert replication.replicate_once(source, points_dir, moment).changed
    write_orders(source, ["the pass at now"])
    dr = LocalSiteProvider(shop.site("dr"), state_dir, clock=Clock(now))

    [state] = await dr.replicate(shop.replication_input(apps=("db",)))

    kept = {p.time for p in replication.list_points(points_dir)}
    expected = {times["day -5, 11:00"], times["08:50"], times["11:38"], times["11:55"], now}
    assert kept == expected, sorted(kept ^ expected)
    assert state.points == 5 and state.latest_point == now
    newest = replication.latest_point(points_dir)
    assert [o["item"] for o in read_log(newest.path / LOG_NAME)[0]] == ["the pass at now"]


# --- source crash --------------------------------------------------------------------------------------------


async def test_kill_9_of_the_source_loses_no_acknowledged_write(shop: Shop) -> None:
    source = await replicated_shop(shop, [f"before {n}" for n in range(5)])
    acknowledged: list[dict] = []
    stop = threading.Event()

    def writer() -> None:
        for n in range(10_000):
            if stop.is_set():
                return
            try:
                acknowledged.append(post_order(source.port, f"during {n}", timeout=2))
            except (OSError, AssertionError):
                return

    thread = threading.Thread(target=writer)
    thread.start()
    await asyncio.to_thread(eventually, lambda: len(acknowledged) >= 10, 10)
    acknowledged_before_pass = list(acknowledged)
    await shop.dr.replicate(shop.replication_input())
    points_before = point_digests(shop.layout)
    await asyncio.to_thread(eventually, lambda: len(acknowledged) >= 20, 10)

    record = read_pid_file(shop.layout.pid("primary", "db1"))
    os.killpg(record.pid, signal.SIGKILL)
    await asyncio.to_thread(eventually, lambda: not is_running(shop.layout.pid("primary", "db1")), 5)
    stop.set()
    thread.join(5)
    assert not port_open(source.port)

    # the replica is intact: the kill changed no point, and the one taken while writing holds every write
    # acknowledged before that pass began
    assert point_digests(shop.layout) == points_before
    pre_kill = replication.latest_point(shop.layout.points("dr", "db1"))
    in_point, _ = read_log(pre_kill.path / LOG_NAME)
    for order in acknowledged_before_pass:
        assert in_point[order["id"] - 1] == order

    # a pass after the crash drains what the source had on disk; recovery at dr serves every acknowledged write
    [state] = await shop.dr.replicate(shop.replication_input())
    assert state.phase == "continuous"
    point = await shop.latest_point()
    target = await shop.dr.launch(shop.launch_input("standby/shop/failover", "recovery", point))
    served = get_orders(target.port)
    served_items = [o["item"] for o in served]
    assert served_items[:5] == [f"before {n}" for n in range(5)]
    for order in acknowledged:
        assert served[order["id"] - 1] == order
    # at most the one write in flight at the kill reached the disk without being acknowledged
    assert len(acknowledged) + 5 <= len(served) <= len(acknowledged) + 6


# --- public endpoint during a switch ---------------------------------------------------------------------------


@dataclass
class Answer:
    started: float
    ended: float
    orders: int | None
    error: str = ""


class Client(threading.Thread):
    """Asks the public endpoint for the db's health in a loop, one connection per request."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port, self.answers, self.done = port, [], threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            started = time.monotonic()
            try:
                status, value = http("GET", self.port, "/health", timeout=2)
                self.answers.append(Answer(started, time.monotonic(), value["orders"] if status == 200 else None,
                                           "" if status == 200 else str(status)))
            except (OSError, http_client.HTTPException) as error:
                # A connection the proxy cuts mid-answer is a refusal too (BadStatusLine is no OSError).
                self.answers.append(Answer(started, time.monotonic(), None, repr(error)))
                time.sleep(0.01)


def longest_refusal(answers: list[Answer]) -> float:
    """The longest time between the start of a failed request and the end of the failures that follow it."""
    longest, first = 0.0, None
    for answer in answers:
        if answer.orders is None:
            first = answer.started if first is None else first
            longest = max(longest, answer.ended - first)
        else:
            first = None
    return longest


async def test_the_public_endpoint_follows_move_identity_and_is_supervised(shop: Shop) -> None:
    source = await replicated_shop(shop, ["a", "b"])
    await asyncio.to_thread(post_order, source.port, "primary only")  # primary: 3 orders, dr's point: 2
    recovered = await shop.dr.launch(shop.launch_input("standby/shop/failover", "recovery", await shop.latest_point()))
    public = shop.runbook.apps["db"].endpoint.port
    identity = dict(runbook="shop", app=shop.app("db"))

    await shop.primary.move_identity(IdentityInput(site=shop.site("primary"), targets=[source], **identity))
    assert get_json(public, "/health")["orders"] == 3
    client = Client(public)
    client.start()
    old = socket.create_connection(("127.0.0.1", public))
    try:
        await asyncio.to_thread(eventually, lambda: sum(a.orders == 3 for a in client.answers) >= 5, 5)

        said = await shop.dr.move_identity(IdentityInput(site=shop.site("dr"), targets=[recovered], **identity))
        moved = time.monotonic()
        def answered_by_dr() -> bool:
            return sum(a.started > moved and a.orders == 2 for a in client.answers) >= 5

        await asyncio.to_thread(eventually, answered_by_dr, 5)
        client.done.set()
        client.join(5)

        assert f"-> dr 127.0.0.1:{recovered.port}" in said
        late = [a for a in client.answers if a.started >= moved and a.orders == 3]
        assert not late, f"answered by primary after the move returned: {late}"
        # The proxy's switch is immediate; what a client may meet is a refusal while a supervised proxy restarts,
        # seconds at most even when the machine is loaded.
        assert longest_refusal(client.answers) < 5.0, [a for a in client.answers if a.orders is None]
        # a connection opened to primary before the move is closed, never answered by primary
        old.settimeout(2)
        try:
            old.sendall(b"GET /health HTTP/1.0\r\n\r\n")
            reply = old.recv(65536)
        except OSError:
            reply = b""
        assert reply == b"", reply
    finally:
        client.done.set()
        old.close()

    # a dead proxy comes back with the next replication pass, still routing to dr
    proxy_pid = shop.layout.route("dr", "db").with_suffix(".pid")
    killed = read_pid_file(proxy_pid)
    os.kill(killed.pid, signal.SIGKILL)
    await asyncio.to_thread(eventually, lambda: not port_open(public), 5)
    await shop.dr.replicate(shop.replication_input(apps=("db",)))
    assert running_pid(proxy_pid) not in (None, killed.pid)
    assert get_json(public, "/health")["orders"] == 2
