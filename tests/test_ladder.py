"""The remediation ladder as pure decisions: restarts spaced and counted, one escalation, one alert, expiry."""

from datetime import UTC, datetime, timedelta

from standby import ladder
from standby.continuity import Monitor
from standby.contracts.monitor import Ladder
from standby.ladder import decide

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MONITOR = Monitor.model_validate({"restart": {"times": 2, "spacing": "10s"}, "expiry": "5m", "then": "switchover"})


def climb(monitor: Monitor, seconds: list[float]) -> list[str]:
    """The actions of faults at these seconds after T0, each decided on the ladder the previous left."""
    ladder, actions = Ladder(), []
    for second in seconds:
        decision = decide(ladder, monitor, T0 + timedelta(seconds=second))
        ladder = decision.ladder
        actions.append(decision.action)
    return actions


def test_restarts_then_switchover_then_one_alert_then_nothing() -> None:
    assert climb(MONITOR, [0, 20, 40, 60, 80]) == ["restart", "restart", "switchover", "alert", "none"]


def test_a_fault_within_the_spacing_waits_for_it() -> None:
    assert climb(MONITOR, [0, 5, 11]) == ["restart", "wait", "restart"]


def test_after_the_expiry_the_ladder_starts_again() -> None:
    assert climb(MONITOR, [0, 20, 40, 40 + 301, 40 + 321]) == ["restart", "restart", "switchover", "restart", "restart"]


def test_no_restarts_goes_straight_to_the_then_rung() -> None:
    monitor = Monitor.model_validate({"restart": {"times": 0}, "then": "failover"})
    decision = decide(Ladder(), monitor, T0)
    assert (decision.action, decision.reason) == ("failover", "no restarts configured")


def test_an_alert_rung_is_not_repeated() -> None:
    monitor = Monitor.model_validate({"restart": {"times": 1, "spacing": "1s"}, "then": "alert"})
    assert climb(monitor, [0, 10, 20]) == ["restart", "alert", "none"]


def test_a_fault_explained_by_a_failing_dependency_is_not_remediated() -> None:
    depends = {"web": ["api"], "api": ["db"], "db": [], "cache": []}
    assert ladder.explained(["db", "api", "web", "cache"], depends) == {"api": "db", "web": "api"}
    assert ladder.explained(["web"], depends) == {}, "a dependency that answers explains nothing"
    assert ladder.explained(["db", "web"], depends) == {"web": "db"}, "also through a healthy app between them"


def test_a_dependency_its_site_stopped_explains_its_dependants_faults() -> None:
    """db is not watched while its site stopped it (its lease ran out): api and web failing with it get no
    restart of their own, which would race the heartbeats' restore of db."""
    depends = {"web": ["api"], "api": ["db"], "db": []}
    assert ladder.explained(["api", "web"], depends) == {"web": "api"}, "api's own fault, db being fine"
    assert ladder.explained(["api", "web"], depends, down=["db"]) == {"api": "db", "web": "api"}
    assert ladder.explained(["web"], depends, down=["db"]) == {"web": "db"}


def test_a_restart_that_could_not_start_the_app_does_not_wait_for_the_spacing() -> None:
    """The spacing keeps an app that starts and crashes from restarting in a loop; one whose restart could not start
    it is down: its next fault restarts it again at once, then escalates."""
    first = decide(Ladder(), MONITOR, T0)
    assert first.action == "restart"
    failed = ladder.not_started(first.ladder)
    second = decide(failed, MONITOR, T0 + timedelta(seconds=3))
    assert (second.action, second.reason) == ("restart", "restart 2 of 2 (restart 1 could not start it)")
    assert decide(second.ladder, MONITOR, T0 + timedelta(seconds=5)).action == "switchover", "2 restarts done"
    assert decide(first.ladder, MONITOR, T0 + timedelta(seconds=3)).action == "wait", "a restart that started"
    assert ladder.not_started(Ladder()).not_started is None, "a rule's restart is on no ladder"


def test_a_failed_restart_is_forgotten_with_the_ladder_after_the_expiry() -> None:
    failed = ladder.not_started(decide(Ladder(), MONITOR, T0).ladder)
    assert ladder.forgotten(failed, MONITOR, T0 + timedelta(minutes=6)).not_started is None
    assert ladder.forgotten(failed, MONITOR, T0 + timedelta(minutes=1)).not_started == T0
