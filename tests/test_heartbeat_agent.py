"""A site's heartbeat agent over real UDP and TCP on 127.0.0.1: hearing, losing, leases, fencing, witnesses.

The agent's stop is a stand-in that records what it was asked to stop (the seam the worker fills with the
site's provider); everything else is real sockets, on free ports, at a 0.2 s interval.
"""

import asyncio
import time
from datetime import UTC, datetime, timedelta

from activities.monitor import witnesses
from activities.monitor.heartbeat import Agent
from bench.cluster import free_ports
from standby.contracts.pairs import PairWatch
from standby.contracts.sites import AppRef, SiteRef
from standby.runbook import App, LocalSite
from tests.helpers import eventually_async
from tests.ports import free_block

INTERVAL, MISSED = 0.2, 3
LEASE = INTERVAL * MISSED


def part(site: str, ports: dict[str, int], serving: tuple[str, ...] = (), epoch: int = 1, grant: float | None = None,
         fence: bool = True, witness: list[str] | None = None) -> PairWatch:
    """Site `a` or `b` of a pair, on the ports' heartbeat addresses."""
    peer = "b" if site == "a" else "a"
    until = datetime.now(UTC) + timedelta(seconds=grant) if grant is not None else None
    return PairWatch(runbook="rb", pair="p", site=SiteRef(runbook="rb", name=site, config=LocalSite(provider="local")),
                     listen=f"127.0.0.1:{ports['hb_' + site]}", peers={peer: f"127.0.0.1:{ports['hb_' + peer]}"},
                     witnesses=witness or [], interval_seconds=INTERVAL, missed=MISSED, epoch=epoch,
                     serving=[AppRef(name=n, config=App(machines=["m1"]), machines=[]) for n in serving],
                     fence=fence, grant_until=until, window_seconds=1)


class Stops:
    """What the agent stopped, and when."""

    def __init__(self) -> None:
        self.done: list[tuple[str, float]] = []

    async def __call__(self, app: AppRef) -> str:
        self.done.append((app.name, time.monotonic()))
        return "m1 stopped"


async def agent(watch: PairWatch, stops: Stops) -> Agent:
    started = Agent(watch, stops)
    started.update(watch)
    await started.start()
    return started


def addresses() -> dict[str, int]:
    ports = free_ports(free_block)
    return {"hb_a": ports["hb_primary"], "hb_b": ports["hb_dr"], "witness": ports["witness0"]}


async def test_peers_hear_each_other_and_the_active_keeps_its_lease() -> None:
    ports, stops = addresses(), Stops()
    a = await agent(part("a", ports, serving=("db",), grant=0.5), stops)
    b = await agent(part("b", ports), stops)
    try:
        await asyncio.sleep(LEASE * 3)  # far past the grant: only b's heartbeats keep a's lease
        seen = a.observation()
        assert seen.peers["b"].last_heard is not None and not seen.peers["b"].lost and seen.peers["b"].hears_me
        assert seen.lease_until is not None and seen.lease_until > datetime.now(UTC)
        assert b.observation().peers["a"].serving == ["db"]
        assert stops.done == []
    finally:
        a.close()
        b.close()


async def test_an_active_no_one_hears_stops_its_apps_when_its_lease_runs_out() -> None:
    ports, stops = addresses(), Stops()
    a = await agent(part("a", ports, serving=("db", "web")), stops)
    b = await agent(part("b", ports), stops)
    try:
        await asyncio.sleep(INTERVAL * 3)
        b.close()
        closed = time.monotonic()
        await eventually_async(lambda: len(stops.done) == 2, 5, 0.02, "db and web stopped")
        took = stops.done[0][1] - closed
        assert took <= INTERVAL * 1.5 + LEASE + 0.1, f"stopped {took:.2f}s after the peer went"
        seen = a.observation()
        assert seen.lost() == ["b"] or took < LEASE  # the lease may end before the loss is declared
        assert [f.split(":")[0] for f in seen.fenced] == ["db", "web"] and "lease ran out" in seen.fenced[0]
        assert seen.lease_until is None
    finally:
        a.close()


async def test_a_grant_and_a_witness_keep_an_active_serving_without_its_peer() -> None:
    ports, stops = addresses(), Stops()
    server = await asyncio.start_server(lambda _r, w: w.close(), "127.0.0.1", ports["witness"])
    a = await agent(part("a", ports, serving=("db",), grant=5, witness=[f"127.0.0.1:{ports['witness']}"]), stops)
    try:
        await asyncio.sleep(LEASE * 4)
        seen = a.observation()
        assert seen.lost() == ["b"] and seen.witnesses == {f"127.0.0.1:{ports['witness']}": True}
        assert stops.done == [] and seen.lease_until is not None
    finally:
        a.close()
        server.close()


async def test_a_cut_off_active_with_a_grant_but_no_witness_still_stops() -> None:
    ports, stops = addresses(), Stops()
    a = await agent(part("a", ports, serving=("db",), grant=5, witness=[f"127.0.0.1:{ports['witness']}"]), stops)
    try:
        await eventually_async(lambda: stops.done, 5, 0.02, "db stopped")
        assert a.observation().witnesses == {f"127.0.0.1:{ports['witness']}": False}
    finally:
        a.close()


async def test_a_peer_serving_the_app_under_a_newer_epoch_fences_it_here() -> None:
    ports, stops = addresses(), Stops()
    a = await agent(part("a", ports, serving=("db",), grant=5, fence=False), stops)
    b = await agent(part("b", ports, serving=("db",), epoch=2, grant=5, fence=False), stops)
    try:
        await eventually_async(lambda: stops.done, 3, 0.02, "db stopped at a")
        assert [name for name, _ in stops.done] == ["db"]
        assert "b serves it under epoch 2" in a.observation().fenced[0]
        assert "db" in b.serving
    finally:
        a.close()
        b.close()


async def test_without_a_peer_able_to_take_over_a_lost_lease_stops_nothing() -> None:
    ports, stops = addresses(), Stops()
    a = await agent(part("a", ports, serving=("db",), fence=False), stops)
    try:
        await asyncio.sleep(LEASE * 3)
        assert stops.done == [] and a.observation().lost() == ["b"]
    finally:
        a.close()


async def test_witness_polls_leave_from_the_site_port() -> None:
    ports = addresses()
    peers: list[int] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peers.append(writer.get_extra_info("peername")[1])
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", ports["witness"])
    try:
        source = f"127.0.0.1:{ports['hb_a']}"
        reached = await witnesses.poll(source, [f"127.0.0.1:{ports['witness']}", f"127.0.0.1:{ports['hb_b']}"], 0.5)
        assert reached == {f"127.0.0.1:{ports['witness']}": True, f"127.0.0.1:{ports['hb_b']}": False}
        assert await witnesses.poll(source, [f"127.0.0.1:{ports['witness']}"], 0.5)  # the port is free again at once
        await eventually_async(lambda: len(peers) == 2, 2, 0.02, "both polls accepted")
        assert peers == [ports["hb_a"], ports["hb_a"]]
    finally:
        server.close()
