"""What `standby status` shows of the monitor: its mode, watched apps, each pair's sites, a suspicion, decisions."""

from datetime import UTC, datetime, timedelta

from rich.console import Console

from standby.contracts.monitor import AppReading, Ladder, MonitorState
from standby.contracts.pairs import PairObservation, PairState, PeerView, Suspicion
from standby.monitor_view import monitor_view

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def shown(state: MonitorState) -> str:
    console = Console(width=200, record=True)
    for part in monitor_view(state):
        console.print(part)
    return console.export_text()


def test_status_shows_a_paused_monitor_its_apps_and_a_suspected_site() -> None:
    seen = {"primary": PairObservation(site="primary", at=T0, peers={"dr": PeerView(site="dr", last_heard=T0)},
                                       witnesses={"127.0.0.1:1": True}, lease_until=T0 + timedelta(seconds=3)),
            "dr": PairObservation(site="dr", at=T0, peers={"primary": PeerView(
                site="primary", last_heard=T0, lost=True, serving=["db"])}, witnesses={"127.0.0.1:1": True})}
    suspicion = Suspicion(lost="primary", by="dr", last_heard=T0, since=T0, takeover_at=T0 + timedelta(seconds=5),
                          evidence="dr lost primary (3 heartbeats missed); witnesses reached 1/1")
    state = MonitorState(paused=True, paused_by="alice", events=["12:00:01 db at primary: restarted"],
                         readings={"db": AppReading(app="db", site="primary", ok=False, failures=2, detail="refused",
                                                    latency_seconds=0.01, metrics={"cpu": 1.5, "memory": 30}, at=T0)},
                         ladders={"db": Ladder(restarts=[T0], escalated=T0)},
                         pairs={"shop": PairState(observations=seen, suspicion=suspicion)})
    text = shown(state)
    assert "monitor: paused by alice (maintenance mode)" in text
    assert "pair shop: takeover pending (primary suspected)" in text
    assert "FAILING" in text and "1 restarts, escalated" in text and "refused" in text
    assert "primary LOST" in text and "dr ok" in text and "12:00:03.000" in text and "1/1 reached" in text
    assert "suspected: dr lost primary (3 heartbeats missed); witnesses reached 1/1" in text
    assert "12:00:01 db at primary: restarted" in text


def test_a_pair_is_healthy_when_every_site_hears_its_peers_and_degraded_when_one_does_not() -> None:
    heard = PairObservation(site="dr", at=T0, peers={"primary": PeerView(site="primary", last_heard=T0)})
    lost = PairObservation(site="dr", at=T0, peers={"primary": PeerView(site="primary", lost=True)})
    assert "pair shop: healthy" in shown(MonitorState(pairs={"shop": PairState(observations={"dr": heard})}))
    assert "pair shop: degraded (dr lost primary)" in shown(MonitorState(pairs={"shop": PairState(
        observations={"dr": lost})}))
