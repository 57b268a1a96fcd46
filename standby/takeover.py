"""Never two actives: the pure rules of a pair's roles, leases and takeovers, shared by the owner and its tests.

A site serves an app while it holds the app's lease. Its agent renews the lease each time a peer says it hears
the site, or, while the owner vouches for the site (a grant, given only to a site that is not suspected and
not cut off), each time it reaches a witness. A lease lasts `missed` intervals; a peer heard within 1.5
intervals is heard. So a site last heard at T by its peer holds its lease at most until
T + 1.5 intervals + the lease, or until its last grant ends, whichever is later; the peer takes over only
after that time plus the grace.
"""

from datetime import datetime, timedelta

from standby.continuity import Heartbeat, Pair
from standby.contracts.pairs import FailoverEvidence, PairObservation, Suspicion
from standby.contracts.state import RunbookTruth

# Phases in which an app serves at the site truth names.
SERVING = ("protected", "failed_over", "reverse_protected", "failed_back")
# A peer heard within this many intervals hears us: its heartbeats renew our lease (the agent's HEARS_WITHIN).
HEARS_WITHIN = 1.5


def served_at(truth: RunbookTruth, pair: Pair, site: str) -> list[str]:
    """The pair's apps serving at a site."""
    return [a for a in pair.apps if a in truth.apps and truth.apps[a].serving == site
            and truth.apps[a].phase in SERVING]


def served_elsewhere(truth: RunbookTruth, pair: Pair, site: str) -> list[str]:
    """The pair's apps another site serves: this site must not run them (an old active come back stops them)."""
    return [a for a in pair.apps if a in truth.apps and truth.apps[a].serving not in (None, site)
            and truth.apps[a].phase in SERVING]


def takeable(truth: RunbookTruth, pair: Pair, lost: str, by: str) -> list[str]:
    """The apps served at `lost` that a failover would bring to `by`: protected from `lost` to `by`."""
    return [a for a in served_at(truth, pair, lost)
            if truth.apps[a].phase == "protected" and truth.apps[a].target == by]


def may_fence(truth: RunbookTruth, pair: Pair, site: str) -> bool:
    """Whether a site whose lease runs out must stop its apps: while protected, when a peer could take one over."""
    return truth.protecting and truth.operation is None and any(
        takeable(truth, pair, site, peer) for peer in pair.nodes() if peer != site)


def cut_off(observation: PairObservation) -> bool:
    """A site that lost a peer and reached none of its witnesses: it is the one cut off."""
    return bool(observation.lost()) and bool(observation.witnesses) and observation.reached() == 0


def lease_bound(heartbeat: Heartbeat, last_heard: datetime | None, grant: datetime | None,
                now: datetime) -> datetime:
    """The latest time the lost site can still hold a lease, from when its peer last heard it and its last grant."""
    lease = heartbeat.lost_after()
    heard = last_heard + heartbeat.interval * HEARS_WITHIN + lease if last_heard is not None else now + lease
    return max(heard, grant) if grant is not None else heard


def takeover_at(heartbeat: Heartbeat, last_heard: datetime | None, grant: datetime | None,
                now: datetime) -> datetime:
    """When a peer may take over a lost site: past its lease, plus the grace."""
    return max(now, lease_bound(heartbeat, last_heard, grant, now)) + heartbeat.grace


def window(heartbeat: Heartbeat) -> timedelta:
    """How long one `watch_pair` runs without news: one lease, at least two seconds."""
    return max(heartbeat.lost_after(), timedelta(seconds=2))


def grant_for(heartbeat: Heartbeat, now: datetime) -> datetime:
    """The grant of one watch: it must last until the next watch starts, an interval after this one ends."""
    return now + window(heartbeat) + heartbeat.interval


def evidence(name: str, pair: Pair, suspicion: Suspicion, apps: list[str], requested: datetime,
             requested_by: str) -> FailoverEvidence:
    """The figures of a suspicion that a failover of `apps`, requested now, acts on."""
    return FailoverEvidence(
        pair=name, lost=suspicion.lost, by=suspicion.by, mode=pair.failover, apps=apps,
        # Suspicions recorded before these fields existed: the pair's settings are what made them.
        missed=suspicion.missed or pair.heartbeat.missed,
        interval_seconds=suspicion.interval_seconds or pair.heartbeat.interval.total_seconds(),
        last_heard=suspicion.last_heard, witnesses=suspicion.witnesses, detected=suspicion.since,
        lease_ends=suspicion.takeover_at - pair.heartbeat.grace, takeover_at=suspicion.takeover_at,
        confirmed=suspicion.confirmed, requested=requested, requested_by=requested_by, summary=suspicion.evidence)
