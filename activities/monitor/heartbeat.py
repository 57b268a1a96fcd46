"""A site's heartbeat agent for one pair: UDP heartbeats to and from its peers, witness polls, its lease.

The agent lives in the site worker's process, beyond any one activity, so that a site cut off from the
control plane still keeps its word: it serves only while it holds a lease, renewed each time a peer says it
hears this site, or, while the owner vouches for the site (a grant), each time it reaches a witness (or at
once when the pair has none). A lease that runs out while a peer could take over stops the apps it serves.
So does a peer that serves one of its apps under a newer epoch: that peer has taken over.
"""

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from activities.monitor import witnesses
from standby.continuity import split_address
from standby.contracts.pairs import PairObservation, PairWatch, PeerView
from standby.contracts.sites import AppRef

log = logging.getLogger("standby.heartbeat")

# A peer heard within this many intervals is heard: its heartbeats renew our lease, ours renew its.
HEARS_WITHIN = 1.5
# When all is well, witnesses are polled every this many intervals (for status); degraded, every interval.
WITNESS_EVERY = 10
# Lost peers are looked for this many times an interval, so a loss is seen within a quarter interval of it.
CHECKS = 4
# What the agent stopped, reported in every observation until this many newer lines push it out: an
# observation can be lost (its watch cancelled), the owner keeps what it has seen.
KEPT = 20

Stopper = Callable[[AppRef], Awaitable[str]]


@dataclass
class Peer:
    """What this site knows of one peer."""

    address: str
    heard: float | None = None
    heard_at: datetime | None = None
    epoch: int = 0
    serving: list[str] = field(default_factory=list)
    hears_me: bool = False
    lost: bool = False
    lost_at: datetime | None = None


class Agent(asyncio.DatagramProtocol):
    """Heartbeats and the lease of one site in one pair of one runbook."""

    def __init__(self, watch: PairWatch, stop: Stopper):
        self.watch, self._stop = watch, stop
        self.started = time.monotonic()
        self.peers = {name: Peer(address) for name, address in watch.peers.items()}
        self.serving: dict[str, AppRef] = {}
        self.lease: float | None = None
        self.grant: float | None = None
        self.witnesses: dict[str, bool] = {}
        self.fenced: list[str] = []
        self.down: set[str] = set()
        self.stopped: list[str] = []
        self.news = asyncio.Event()
        self.refreshed = time.monotonic()
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._polling: asyncio.Task[None] | None = None
        self._polled = 0.0

    async def start(self) -> None:
        """Bind the heartbeat address and start beating."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=split_address(self.watch.listen))
        self._transport = transport
        self._tasks = [asyncio.create_task(self._beat()), asyncio.create_task(self._guard())]

    def close(self) -> None:
        """Stop beating and release the address."""
        for task in [*self._tasks, *([self._polling] if self._polling else [])]:
            task.cancel()
        if self._transport is not None:
            self._transport.close()

    @property
    def interval(self) -> float:
        return self.watch.interval_seconds

    @property
    def lease_seconds(self) -> float:
        return self.watch.interval_seconds * self.watch.missed

    def update(self, watch: PairWatch) -> None:
        """The owner's latest word: peers, epoch, the apps this site serves, its grant."""
        self.watch, self.refreshed = watch, time.monotonic()
        self.peers = {name: self.peers.get(name) or Peer(address) for name, address in watch.peers.items()}
        now = time.monotonic()
        self.grant = None
        if watch.grant_until is not None:
            self.grant = now + (watch.grant_until - datetime.now(UTC)).total_seconds()
            # The owner vouches for the site again: what it stopped it may serve again (the owner restarts it).
            self.down.clear()
        self.serving = {app.name: app for app in watch.serving if app.name not in self.down}
        self._renew_by_grant(now)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        """A peer's heartbeat: it is heard; if it hears us, our lease is renewed; a newer epoch may fence us."""
        try:
            beat = json.loads(data)
            peer = self.peers.get(beat["site"]) if beat.get("runbook") == self.watch.runbook else None
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        if peer is None or beat.get("pair") != self.watch.pair:
            return
        now = time.monotonic()
        peer.heard, peer.heard_at = now, datetime.now(UTC)
        peer.epoch, peer.serving, peer.hears_me = int(beat["epoch"]), list(beat["serving"]), bool(beat["hears"])
        if peer.hears_me and self.serving:
            self.lease = max(self.lease or 0.0, now + self.lease_seconds)
        taken = [a for a in peer.serving if a in self.serving] if peer.epoch > self.watch.epoch else []
        if taken:
            asyncio.ensure_future(self._fence(taken, f"{beat['site']} serves it under epoch {peer.epoch}"))

    def error_received(self, exc: Exception) -> None:
        """A peer's port refused a heartbeat: it is not heard, nothing more."""

    async def _beat(self) -> None:
        """Send every interval; look for lost peers and due witness polls CHECKS times as often."""
        sent = 0.0
        while True:
            now = time.monotonic()
            try:
                if now - sent >= self.interval:
                    self._send(now)
                    sent = now
                self._check(now)
            except Exception:  # the agent must outlive any one bad tick: its lease depends on it
                log.exception("heartbeat agent of %s/%s at %s", self.watch.runbook, self.watch.pair,
                              self.watch.site.name)
            await asyncio.sleep(self.interval / CHECKS)

    def _check(self, now: float) -> None:
        for peer in self.peers.values():
            lost = now - (peer.heard or self.started) > self.lease_seconds
            if lost != peer.lost:
                peer.lost, peer.lost_at = lost, datetime.now(UTC) if lost else None
                self.news.set()
        degraded = any(not self._hears(p, now) for p in self.peers.values())
        since = now - self._polled
        due = (degraded and since >= self.interval) or since >= WITNESS_EVERY * self.interval
        if due and (self._polling is None or self._polling.done()):
            self._polled = now
            self._polling = asyncio.create_task(self._poll())

    async def _guard(self) -> None:
        """Stop serving the moment the lease runs out, not at the next tick: the owner counts on that moment."""
        while True:
            left = (self.lease or 0.0) - time.monotonic()
            if self.serving and self.watch.fence and left <= 0:
                await self._fence(list(self.serving), "its lease ran out: no peer hears it and no witness vouches")
                continue
            await asyncio.sleep(min(left, self.interval) if self.serving and left > 0 else self.interval / 4)

    def _hears(self, peer: Peer, now: float) -> bool:
        return peer.heard is not None and now - peer.heard <= HEARS_WITHIN * self.interval

    def _send(self, now: float) -> None:
        if self._transport is None:
            return
        for peer in self.peers.values():
            beat = {"runbook": self.watch.runbook, "pair": self.watch.pair, "site": self.watch.site.name,
                    "epoch": self.watch.epoch, "serving": sorted(self.serving), "hears": self._hears(peer, now)}
            self._transport.sendto(json.dumps(beat).encode(), split_address(peer.address))

    async def _poll(self) -> None:
        reached = await witnesses.poll(self.watch.listen, self.watch.witnesses, timeout=self.interval / 2)
        if self.watch.witnesses and not any(reached.values()) and self.serving:
            log.warning("%s at %s reaches none of its witnesses", self.watch.pair, self.watch.site.name)
        if reached != self.witnesses:
            self.witnesses = reached
            self.news.set()
        if any(reached.values()) or not self.watch.witnesses:
            self._renew_by_grant(time.monotonic())

    def _renew_by_grant(self, now: float) -> None:
        """While the owner vouches for this site, its lease runs on, never past the grant."""
        if self.serving and self.grant is not None and now < self.grant:
            self.lease = max(self.lease or 0.0, min(now + self.lease_seconds, self.grant))

    async def _fence(self, apps: list[str], why: str) -> None:
        """Stop serving these apps here: stopped through the provider, reported to the owner."""
        for name in apps:
            app = self.serving.pop(name, None)
            if app is None:
                continue
            self.down.add(name)
            log.warning("%s at %s stops serving %s: %s", self.watch.pair, self.watch.site.name, name, why)
            outcome = await self._stop(app)
            self.fenced = [*self.fenced, f"{name}: {why} ({outcome}) at {datetime.now(UTC):%H:%M:%S.%f}"][-KEPT:]
        self.news.set()

    def record_stop(self, line: str) -> None:
        """An app stopped here because another site serves it, kept for the owner like a fence."""
        self.stopped = [*self.stopped, f"{line} at {datetime.now(UTC):%H:%M:%S.%f}"][-KEPT:]

    def observation(self) -> PairObservation:
        """What the agent saw, for the owner, with the last things it stopped."""
        now, wall = time.monotonic(), datetime.now(UTC)
        peers = {name: PeerView(site=name, last_heard=p.heard_at, lost=p.lost, lost_since=p.lost_at, epoch=p.epoch,
                                serving=p.serving, hears_me=p.hears_me and self._hears(p, now))
                 for name, p in self.peers.items()}
        lease = wall + timedelta(seconds=self.lease - now) if self.lease and self.serving else None
        self.news.clear()
        return PairObservation(site=self.watch.site.name, at=wall, peers=peers, witnesses=dict(self.witnesses),
                               lease_until=lease, fenced=list(self.fenced), stopped=list(self.stopped))
