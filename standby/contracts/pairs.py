"""Heartbeats of a pair: what a site's worker is told to do, what it observed, and what the owner concluded.

A site's worker keeps one heartbeat agent per runbook and pair: it sends and hears UDP heartbeats, polls the
witnesses, holds the lease of the apps it serves and stops them when that lease runs out. The `watch_pair`
activity tells the agent its part (PairWatch) and returns what the agent saw (PairObservation).
"""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from standby.contracts.sites import AppRef, SiteRef


class PairWatch(BaseModel):
    """A site's part in a pair for the next while: its peers, its epoch, the apps it serves, its grant."""

    runbook: str
    pair: str
    site: SiteRef
    listen: str = Field(description="host:port this site hears heartbeats on and polls witnesses from")
    peers: dict[str, str] = Field(description="each other node of the pair -> the address it hears on")
    witnesses: list[str] = []
    interval_seconds: float
    missed: int
    epoch: int
    serving: list[AppRef] = Field([], description="the apps this site serves: it holds their lease")
    stop: list[AppRef] = Field([], description="apps this site must not run: another site serves them")
    fence: bool = Field(False, description="stop the apps it serves when its lease runs out (a peer could take over)")
    grant_until: datetime | None = Field(None, description=(
        "until when the owner vouches for this site: with a witness reached, it renews its lease by itself"))
    window_seconds: float


class PeerView(BaseModel):
    """One peer as a site hears it."""

    site: str
    last_heard: datetime | None = None
    lost: bool = False
    lost_since: datetime | None = Field(None, description="when the site found the peer lost, by its own clock")
    epoch: int = 0
    serving: list[str] = []
    hears_me: bool = False


class PairObservation(BaseModel):
    """What a site's heartbeat agent saw: its peers, the witnesses it reached, its lease, what it stopped."""

    site: str
    at: datetime
    peers: dict[str, PeerView] = {}
    witnesses: dict[str, bool] = Field({}, description="each witness -> reached at the last poll")
    lease_until: datetime | None = None
    fenced: list[str] = Field([], description="the last apps the agent stopped itself, why and when")
    stopped: list[str] = Field([], description="the last apps it stopped because another site serves them")

    def lost(self) -> list[str]:
        """The peers this site no longer hears."""
        return [name for name, peer in self.peers.items() if peer.lost]

    def reached(self) -> int:
        """How many witnesses it reached at its last poll."""
        return sum(self.witnesses.values())


class Suspicion(BaseModel):
    """A site that lost its peer and reached witnesses: the peer may be taken over once its lease has run out."""

    lost: str
    by: str
    last_heard: datetime | None
    since: datetime = Field(description="when the site's agent found the peer lost: the detection")
    takeover_at: datetime
    evidence: str
    ended: datetime | None = None
    outcome: str = Field("", description="how it ended: a takeover started, heard again, a link down, ...")
    missed: int = Field(0, description="the heartbeats missed that made the peer lost: the pair's `missed`")
    interval_seconds: float = 0.0
    witnesses: dict[str, bool] = Field({}, description="each witness -> reached, at the poll that found the peer lost")
    confirmed: datetime | None = Field(None, description=(
        "when the loss stood past the lease and grace: the failover was requested (automatic) or alerted (managed)"))


class FailoverEvidence(BaseModel):
    """What the protect monitor knew when a failover of a lost site's apps was requested: its decision, in figures."""

    pair: str
    lost: str
    by: str = Field(description="the site that lost its peer and takes over")
    mode: Literal["automatic", "managed"] = Field(description=(
        "the pair's failover: automatic (the monitor requested it) or managed (an operator did)"))
    apps: list[str]
    missed: int
    interval_seconds: float
    last_heard: datetime | None
    witnesses: dict[str, bool] = {}
    detected: datetime = Field(description="when the site's agent found the peer lost")
    lease_ends: datetime = Field(description="the latest time the lost site could still hold its lease")
    takeover_at: datetime = Field(description="the lease's end plus the grace: the earliest takeover")
    confirmed: datetime | None = Field(None, description="when the loss stood at the takeover time (None: not yet)")
    requested: datetime
    requested_by: str
    summary: str = Field("", description="the suspicion's evidence, as the monitor's events said it")

    def reached(self) -> int:
        """How many witnesses the site reached."""
        return sum(self.witnesses.values())


class PairState(BaseModel):
    """The owner's view of a pair: each site's last observation, a suspicion, the last decision."""

    observations: dict[str, PairObservation] = {}
    received: dict[str, datetime] = Field({}, description="when the owner last heard from each site's agent")
    suspicion: Suspicion | None = None
    last: Suspicion | None = Field(None, description="the suspicion before, with how it ended")
    grants: dict[str, datetime] = Field({}, description="the last grant given to each site: its lease ends by then")
    down: dict[str, list[str]] = Field({}, description="apps a site stopped itself that are still its to serve")
    seen: list[str] = Field([], description="the stops the owner has recorded, so each is recorded once")
    decision: str = ""
    alerts: list[str] = Field([], description="conditions alerted on and not yet over, each alerted once")
