"""Never two actives, as pure rules: what may be taken over, who fences, when a takeover may start."""

from datetime import UTC, datetime, timedelta

from standby import takeover
from standby.continuity import Heartbeat, Pair
from standby.contracts.pairs import PairObservation, PeerView
from standby.contracts.state import AppState, RunbookTruth

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PAIR = Pair(primary="primary", secondary="dr", apps=["db", "web"], heartbeat=Heartbeat())


def truth(**phases: tuple[str, str | None]) -> RunbookTruth:
    """Apps protected primary -> dr unless given (phase, serving)."""
    apps = {name: AppState(phase=phase, serving=serving, source="primary", target="dr", home="primary")
            for name, (phase, serving) in {"db": ("protected", "primary"), "web": ("protected", "primary"),
                                           **phases}.items()}
    return RunbookTruth(runbook="shop", apps=apps, protecting=True)


def test_protected_apps_of_the_lost_site_may_be_taken_over_by_their_target_only() -> None:
    now = truth(web=("failed_over", "dr"))
    assert takeover.takeable(now, PAIR, "primary", "dr") == ["db"]
    assert takeover.takeable(now, PAIR, "dr", "primary") == []
    assert takeover.served_elsewhere(now, PAIR, "primary") == ["web"]


def test_a_site_fences_only_when_a_peer_could_take_over() -> None:
    assert takeover.may_fence(truth(), PAIR, "primary")
    assert not takeover.may_fence(truth(db=("failed_over", "dr"), web=("failed_over", "dr")), PAIR, "dr")
    assert not takeover.may_fence(truth().model_copy(update={"protecting": False}), PAIR, "primary")


def test_the_takeover_waits_for_the_lease_plus_grace_and_for_the_last_grant() -> None:
    beat = Heartbeat(interval=timedelta(seconds=1), missed=3, grace=timedelta(seconds=1))
    heard = T0
    assert takeover.takeover_at(beat, heard, None, T0 + timedelta(seconds=3)) == T0 + timedelta(seconds=5.5)
    later_grant = T0 + timedelta(seconds=6)
    assert takeover.takeover_at(beat, heard, later_grant, T0 + timedelta(seconds=3)) == T0 + timedelta(seconds=7)
    assert takeover.takeover_at(beat, None, None, T0) == T0 + timedelta(seconds=4)


def test_a_site_that_lost_its_peer_and_reaches_no_witness_is_cut_off() -> None:
    lost = {"primary": PeerView(site="primary", lost=True)}
    assert takeover.cut_off(PairObservation(site="dr", at=T0, peers=lost, witnesses={"w:1": False, "w:2": False}))
    assert not takeover.cut_off(PairObservation(site="dr", at=T0, peers=lost, witnesses={"w:1": False, "w:2": True}))
    assert not takeover.cut_off(PairObservation(site="dr", at=T0, peers=lost))
    heard = {"primary": PeerView(site="primary")}
    assert not takeover.cut_off(PairObservation(site="dr", at=T0, peers=heard, witnesses={"w:1": False}))
