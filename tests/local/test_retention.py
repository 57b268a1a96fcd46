"""Retention of recovery points: every 10 minutes, hourly and daily windows, with times passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from standby.retention import RetentionPolicy, points_to_keep

NOW = datetime(2026, 11, 22, 12, 3, 0, tzinfo=UTC)
DEFAULT = RetentionPolicy()


def utc(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    """A time on a day of November 2026, UTC."""
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def test_no_points_keep_nothing() -> None:
    assert points_to_keep([], NOW, DEFAULT) == set()


def test_the_newest_point_is_kept_even_when_older_than_every_window() -> None:
    old, older = NOW - timedelta(days=90), NOW - timedelta(days=91)
    assert points_to_keep([older, old], NOW, DEFAULT) == {old}


def test_the_last_hour_keeps_the_newest_point_of_each_ten_minute_bucket() -> None:
    every_two_minutes = [NOW - timedelta(minutes=2 * n) for n in range(31)]  # 12:03 back to 11:03
    kept = points_to_keep(every_two_minutes, NOW, RetentionPolicy(hourly_for=timedelta(0), daily_for=timedelta(0)))
    assert kept == {utc(22, 12, 3), utc(22, 11, 59), utc(22, 11, 49), utc(22, 11, 39), utc(22, 11, 29),
                    utc(22, 11, 19), utc(22, 11, 9)}  # fmt: skip


def test_two_points_younger_than_ten_minutes_in_one_bucket_keep_only_the_newer() -> None:
    assert points_to_keep([utc(22, 12, 0, 30), utc(22, 12, 2)], NOW, DEFAULT) == {utc(22, 12, 2)}
    assert points_to_keep([utc(22, 11, 58), utc(22, 12, 1)], NOW, DEFAULT) == {utc(22, 11, 58), utc(22, 12, 1)}


def test_default_policy_over_forty_hours_of_points_every_twenty_minutes() -> None:
    times = [NOW - timedelta(minutes=20 * n) for n in range(3 * 40)]  # back to 20 Nov 20:23
    kept = points_to_keep(times, NOW, DEFAULT)
    ten_minute = {utc(22, 12, 3), utc(22, 11, 43), utc(22, 11, 23), utc(22, 11, 3)}
    # hourly: newest of each hour among points at most 24 h old (back to 21 Nov 12:03)
    hourly = {utc(22, 12, 3)} | {utc(22, h, 43) for h in range(12)} | {utc(21, h, 43) for h in range(12, 24)}
    # daily: the newest of each UTC day within 30 days
    daily = {utc(22, 12, 3), utc(21, 23, 43), utc(20, 23, 43)}
    assert kept == ten_minute | hourly | daily
    assert utc(21, 11, 43) not in kept and utc(21, 10, 3) not in kept


def test_daily_points_older_than_the_daily_window_are_pruned() -> None:
    nightly = [utc(22, 1, 0) - timedelta(days=n) for n in range(40)]
    kept = points_to_keep(nightly, NOW, DEFAULT)
    assert kept == {utc(22, 1, 0) - timedelta(days=n) for n in range(30)}


def test_window_limits_are_inclusive() -> None:
    policy = RetentionPolicy(every_10m_for=timedelta(0), hourly_for=timedelta(hours=2), daily_for=timedelta(0))
    edge, beyond = NOW - timedelta(hours=2), NOW - timedelta(hours=2, microseconds=1)
    assert points_to_keep([beyond, edge, NOW], NOW, policy) == {edge, NOW}
    assert points_to_keep([beyond, NOW], NOW, policy) == {NOW}


def test_days_are_utc_days_whatever_the_zone_of_the_times() -> None:
    paris = timezone(timedelta(hours=2))
    late, early = datetime(2026, 11, 21, 1, 30, tzinfo=paris), datetime(2026, 11, 21, 2, 30, tzinfo=paris)
    newest = datetime(2026, 11, 21, 12, 0, tzinfo=paris)
    policy = RetentionPolicy(every_10m_for=timedelta(0), hourly_for=timedelta(0))
    # 01:30+02:00 is 20 Nov 23:30 UTC: the newest of its UTC day, although the same local day as 02:30
    assert points_to_keep([late, early, newest], NOW, policy) == {late, newest}
    assert all(moment.tzinfo is paris for moment in points_to_keep([late, early, newest], NOW, policy))


def test_times_without_a_zone_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        points_to_keep([datetime(2026, 11, 22, 12, 0)], NOW, DEFAULT)
    with pytest.raises(ValueError, match="negative"):
        RetentionPolicy(hourly_for=timedelta(hours=-1))
