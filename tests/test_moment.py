"""The machines of an app come back from one moment: the newest that every one of them has."""

from datetime import UTC, datetime, timedelta

import pytest

from standby.contracts.sites import RecoveryPoint
from standby.moment import NoConsistentPoint, consistent

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def points(*seconds: float) -> list[RecoveryPoint]:
    return [RecoveryPoint(id=f"p{s}", time=T0 + timedelta(seconds=s)) for s in seconds]


def test_each_machine_comes_back_from_its_newest_point_at_the_moment_every_machine_has() -> None:
    chosen = consistent({"db1": points(0, 2, 4, 6), "log1": points(1, 3, 5), "app1": points(0, 1, 2, 3, 4, 5, 6)})
    # log1's newest is 5 s: no machine may come back from later than that.
    assert {m: p.id for m, p in chosen.items()} == {"db1": "p4", "log1": "p5", "app1": "p5"}
    assert max(p.time for p in chosen.values()) <= T0 + timedelta(seconds=5)


def test_an_older_moment_asked_for_is_the_bound() -> None:
    chosen = consistent({"db1": points(0, 2, 4, 6), "log1": points(1, 3, 5)}, at_or_before=T0 + timedelta(seconds=3))
    # db1 has nothing between 2 s and 3 s, so the app's moment is 2 s: log1 comes back from 1 s.
    assert {m: p.id for m, p in chosen.items()} == {"db1": "p2", "log1": "p1"}


def test_points_of_one_pass_taken_one_after_another_are_one_moment() -> None:
    # One snapshot pass: app-01 stamped at 0 s, app-02 half a second later; app-02 has nothing at or before 0 s.
    chosen = consistent({"app-01": points(0, 300), "app-02": points(0.5)})
    assert {m: p.id for m, p in chosen.items()} == {"app-01": "p0", "app-02": "p0.5"}


def test_a_machine_without_a_point_at_that_moment_is_named() -> None:
    with pytest.raises(NoConsistentPoint, match="no recovery point of log1 at or before"):
        consistent({"db1": points(0, 2), "log1": points(5)}, at_or_before=T0 + timedelta(seconds=3))
    with pytest.raises(NoConsistentPoint, match="no recovery point of db1$"):
        consistent({"db1": [], "log1": points(5)})
