"""Which recovery points a retention policy keeps, in the manner of AWS Elastic Disaster Recovery (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

Bucket = Callable[[datetime], Hashable]


@dataclass(frozen=True)
class RetentionPolicy:
    """How long points are kept at each granularity: every pass (a journal), every 10 minutes, hourly, daily."""

    every_10m_for: timedelta = timedelta(hours=1)
    hourly_for: timedelta = timedelta(hours=24)
    daily_for: timedelta = timedelta(days=30)
    every_pass_for: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        """Refuses negative windows, which would silently keep nothing."""
        for name in ("every_pass_for", "every_10m_for", "hourly_for", "daily_for"):
            if getattr(self, name) < timedelta(0):
                raise ValueError(f"retention window {name} must not be negative")


def _ten_minutes(moment: datetime) -> Hashable:
    """The 10-minute bucket (UTC, aligned to :00, :10, ...) of a time."""
    return (moment.date(), moment.hour, moment.minute // 10)


def _hour(moment: datetime) -> Hashable:
    """The UTC hour of a time."""
    return (moment.date(), moment.hour)


def _day(moment: datetime) -> Hashable:
    """The UTC day of a time."""
    return moment.date()


def _newest_per_bucket(times: Sequence[datetime], bucket: Bucket) -> set[datetime]:
    """The newest time of each bucket."""
    newest: dict[Hashable, datetime] = {}
    for moment in times:
        key = bucket(moment)
        if key not in newest or moment > newest[key]:
            newest[key] = moment
    return set(newest.values())


def _utc(moment: datetime) -> datetime:
    """The time in UTC; a time without a zone is refused rather than guessed."""
    if moment.tzinfo is None:
        raise ValueError(f"time {moment} has no time zone")
    return moment.astimezone(UTC)


def points_to_keep(times: Sequence[datetime], now: datetime, policy: RetentionPolicy) -> set[datetime]:
    """The point times to keep; every other one may be pruned.

    Kept: the newest point, always; every point at most `every_pass_for` old (a journal of every
    pass, none by default); of the points at most `every_10m_for` old, the newest of
    each 10-minute bucket; of those at most `hourly_for` old, the newest of each hour; of those
    at most `daily_for` old, the newest of each day. Buckets are aligned to UTC clock time and
    only points inside a window compete in it. Two points in one 10-minute bucket are never both
    kept: a point younger than 10 minutes is no exception.
    Points older than every window go, except the newest. The returned times are the ones given
    (same objects, same zones); times without a zone raise ValueError.
    """
    return {moment for moment, rules in keeping_rules(times, now, policy).items() if rules}


def keeping_rules(times: Sequence[datetime], now: datetime, policy: RetentionPolicy) -> dict[datetime, list[str]]:
    """Each given time with the rules that keep it (`newest`, `every pass`, `10-minute`, `hourly`, `daily`).

    [] for a point no rule keeps: it is pruned at the next replication pass.
    """
    by_utc = {_utc(moment): moment for moment in times}
    now = _utc(now)
    rules: dict[datetime, list[str]] = {moment: [] for moment in by_utc}
    if by_utc:
        rules[max(by_utc)].append("newest")
    for moment in by_utc:
        if policy.every_pass_for and now - moment <= policy.every_pass_for:
            rules[moment].append("every pass")
    windows = ((policy.every_10m_for, _ten_minutes, "10-minute"), (policy.hourly_for, _hour, "hourly"),
               (policy.daily_for, _day, "daily"))
    for window, bucket, name in windows:
        inside = [moment for moment in by_utc if now - moment <= window]
        for moment in _newest_per_bucket(inside, bucket):
            rules[moment].append(name)
    return {by_utc[moment]: kept for moment, kept in rules.items()}
