"""The protect monitor's decision in a report: the rows that say, in figures, why and when a failover was asked."""

from datetime import UTC, datetime

from standby.contracts.pairs import FailoverEvidence
from standby.report.chart import short_duration


def headline(e: FailoverEvidence) -> str:
    """`pair shop: dr lost primary; automatic failover of db, api, web, requested by monitor`."""
    return (f"pair {e.pair}: {e.by} lost {e.lost}; {e.mode} failover of {', '.join(e.apps)}, "
            f"requested by {e.requested_by or 'someone'}")


def rows(e: FailoverEvidence) -> list[tuple[str, str]]:
    """(what, figures) for the heartbeats, the witnesses, the lease and the three moments of the decision."""
    heard = (f"last heard {_moment(e.last_heard)}, {_after(e.last_heard, e.detected)} before the detection"
             if e.last_heard else "never heard")
    witnesses = ", ".join(f"{w} {'reached' if ok else 'NOT reached'}" for w, ok in sorted(e.witnesses.items()))
    return [
        ("Heartbeats", f"{e.missed} missed (every {short_duration(e.interval_seconds)}); {heard}"),
        ("Witnesses", f"{e.reached()}/{len(e.witnesses)} reached ({witnesses})" if e.witnesses else "none named"),
        ("Lease", f"{e.lost}'s lease ended by {_moment(e.lease_ends)}; takeover allowed from {_moment(e.takeover_at)}"),
        ("Loss detected", f"{_moment(e.detected)} by {e.by}"),
        ("Loss confirmed", _confirmed(e)),
        ("Failover requested", f"{_moment(e.requested)} by {e.requested_by or 'someone'}"
                               f" ({_after(e.confirmed or e.detected, e.requested)} after the "
                               f"{'confirmation' if e.confirmed else 'detection'})"),
    ]


def _confirmed(e: FailoverEvidence) -> str:
    if e.confirmed is None:
        return f"not yet when requested (the takeover time was {_moment(e.takeover_at)})"
    then = "the monitor requested the failover" if e.mode == "automatic" else "alerted, an operator to fail over"
    return f"{_moment(e.confirmed)}, {_after(e.detected, e.confirmed)} after the detection: {then}"


def _moment(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%H:%M:%S.%f}"[:-3] + " UTC" if moment else "—"


def _after(start: datetime | None, end: datetime | None) -> str:
    return short_duration(max(0.0, (end - start).total_seconds())) if start and end else "—"
