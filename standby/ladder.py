"""The remediation ladder, as pure decisions: a fault of an app, its ladder so far and the monitor's rungs give
the one action this fault starts.

Restart up to `restart.times` times, `restart.spacing` apart (but at once after a restart that could not start the
app: it is down, not flapping); then the `then` rung (switchover, failover or an alert) once; then one alert.
Faults, restarts and the escalation are forgotten after `expiry`, so an app that stayed healthy that long starts
again from the first rung.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from standby.continuity import Monitor
from standby.contracts.monitor import Ladder

Action = Literal["restart", "switchover", "failover", "alert", "wait", "none"]


@dataclass(frozen=True)
class Decision:
    """The action a fault starts, why, and the ladder after it."""

    action: Action
    reason: str
    ladder: Ladder


def forgotten(ladder: Ladder, monitor: Monitor, now: datetime) -> Ladder:
    """The ladder without what is older than the expiry."""
    keep = now - monitor.expiry
    escalated = ladder.escalated if ladder.escalated and ladder.escalated > keep else None
    return Ladder(faults=[t for t in ladder.faults if t > keep], restarts=[t for t in ladder.restarts if t > keep],
                  escalated=escalated, alerted=ladder.alerted if escalated else None,
                  not_started=ladder.not_started if ladder.not_started and ladder.not_started > keep else None)


def not_started(ladder: Ladder) -> Ladder:
    """The ladder after its last restart could not start the app: the app is down, so the next fault climbs on at
    once instead of waiting out the spacing (which keeps an app that starts and crashes from restarting in a loop)."""
    return ladder.model_copy(update={"not_started": ladder.restarts[-1] if ladder.restarts else None})


def decide(ladder: Ladder, monitor: Monitor, now: datetime) -> Decision:
    """The action one new fault starts."""
    current = forgotten(ladder, monitor, now)
    current = current.model_copy(update={"faults": [*current.faults, now][-20:]})
    if current.escalated is not None:
        if current.alerted is not None:
            return Decision("none", f"already escalated ({monitor.then}) and alerted", current)
        return Decision("alert", f"still failing after {monitor.then}",
                        current.model_copy(update={"alerted": now}))
    done = len(current.restarts)
    if done < monitor.restart.times:
        failed = bool(current.restarts) and current.not_started == current.restarts[-1]
        if current.restarts and now - current.restarts[-1] < monitor.restart.spacing and not failed:
            wait = monitor.restart.spacing - (now - current.restarts[-1])
            return Decision("wait", f"restart {done + 1} waits {wait.total_seconds():.0f}s more (spacing)", current)
        why = f" (restart {done} could not start it)" if failed else ""
        return Decision("restart", f"restart {done + 1} of {monitor.restart.times}{why}",
                        current.model_copy(update={"restarts": [*current.restarts, now]}))
    reason = f"{done} restart(s) did not hold" if done else "no restarts configured"
    escalated = current.model_copy(update={"escalated": now, "alerted": now if monitor.then == "alert" else None})
    return Decision(monitor.then, reason, escalated)


def explained(faults: list[str], depends_on: dict[str, list[str]], down: Collection[str] = ()) -> dict[str, str]:
    """Faulting apps that depend, directly or not, on another faulting app, each with that app: the dependency's
    fault explains theirs (an api is unhealthy while its db is down), so only the dependency is remediated. So
    does a dependency in `down`, unwatched because its site stopped it (the heartbeats bring it back)."""
    failing, found = {*faults, *down}, {}
    for app in faults:
        seen, todo = set(), list(depends_on.get(app, []))
        while todo:
            other = todo.pop()
            if other in seen:
                continue
            seen.add(other)
            if other in failing:
                found[app] = other
                break
            todo.extend(depends_on.get(other, []))
    return found
