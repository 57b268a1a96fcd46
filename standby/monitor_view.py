"""How `standby status` shows the protect monitor: its mode, each watched app, each pair's sites, its decisions."""

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from standby.contracts.monitor import MonitorState
from standby.contracts.pairs import PairState
from standby.contracts.sites import MachineReplication

EVENTS_SHOWN = 8


def monitor_view(state: MonitorState) -> list[RenderableType]:
    """The monitor's mode, the apps it watches, the pairs' heartbeats, its last decisions."""
    who = state.pause.who() if state.pause else state.paused_by or "someone"
    mode = f"paused by {who} (maintenance mode)" if state.paused else "watching"
    shown: list[RenderableType] = [Text(f"monitor: {mode}")]
    if state.readings:
        shown.append(_apps(state))
    shown += [_pair(name, pair) for name, pair in state.pairs.items()]
    shown += [_copies(name, copies) for name, copies in state.tertiary.items()]
    shown += [Text(event) for event in state.events[-EVENTS_SHOWN:]]
    return shown


def _apps(state: MonitorState) -> Table:
    table = Table("app", "at", "health", "failed", "latency", "cpu %", "memory MiB", "ladder", "detail",
                  title="watched apps")
    for name, reading in sorted(state.readings.items()):
        ladder = state.ladders.get(name)
        steps = f"{len(ladder.restarts)} restarts" + (", escalated" if ladder.escalated else "") if ladder else "-"
        metrics = reading.metrics
        table.add_row(name, reading.site, "ok" if reading.ok else "FAILING", str(reading.failures),
                      f"{reading.latency_seconds:.3f}s", _number(metrics.get("cpu")), _number(metrics.get("memory")),
                      steps, reading.detail)
    return table


def _pair(name: str, pair: PairState) -> Table:
    table = Table("site", "serves", "hears", "last heartbeat", "lease until", "witnesses",
                  title=f"pair {name}: {pair_state(pair)}")
    for site, seen in sorted(pair.observations.items()):
        hears = ", ".join(f"{p} {'LOST' if v.lost else 'ok'}" for p, v in sorted(seen.peers.items())) or "-"
        heard = max((v.last_heard for v in seen.peers.values() if v.last_heard), default=None)
        lease = f"{seen.lease_until:%H:%M:%S.%f}"[:-3] if seen.lease_until else "-"
        witnesses = f"{seen.reached()}/{len(seen.witnesses)} reached" if seen.witnesses else "-"
        serving = ", ".join(seen_serving(pair, site)) or "-"
        table.add_row(site, serving, hears, f"{heard:%H:%M:%S}" if heard else "never", lease, witnesses)
    if pair.suspicion is not None:
        table.caption = f"suspected: {pair.suspicion.evidence}"
    elif pair.decision:
        table.caption = pair.decision
    return table


def _copies(name: str, copies: list[MachineReplication]) -> Table:
    table = Table("machine", "phase", "lag", "latest point", "points", title=f"trio {name}: copy at its tertiary")
    for m in copies:
        lag = "-" if m.lag_seconds is None else f"{m.lag_seconds:.1f}s"
        point = f"{m.latest_point:%Y-%m-%d %H:%M:%S}" if m.latest_point else "-"
        table.add_row(m.machine, m.phase, lag, point, str(m.points))
    return table


def pair_state(pair: PairState) -> str:
    """`healthy` (every site hears its peers), `degraded` (one does not), `takeover pending`, or `starting`."""
    if pair.suspicion is not None:
        return f"takeover pending ({pair.suspicion.lost} suspected)"
    if not pair.observations:
        return "starting"
    lost = sorted({f"{site} lost {peer}" for site, o in pair.observations.items() for peer in o.lost()})
    return f"degraded ({'; '.join(lost)})" if lost else "healthy"


def seen_serving(pair: PairState, site: str) -> list[str]:
    """The apps a site's peers hear it serve (what its heartbeats say)."""
    heard = [v.serving for o in pair.observations.values() for p, v in o.peers.items() if p == site]
    return sorted({app for apps in heard for app in apps})


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
