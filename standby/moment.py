"""Which recovery point each machine of an app launches from: one moment for the whole app."""

from datetime import datetime

from standby.contracts.sites import RecoveryPoint


class NoConsistentPoint(ValueError):
    """A machine of the app has no recovery point at or before the moment asked for."""


def consistent(points: dict[str, list[RecoveryPoint]],
               at_or_before: datetime | None = None) -> dict[str, RecoveryPoint]:
    """For each machine, its newest point at or before the newest moment that every machine of the app has.

    Machines replicate on their own: launching each from its own latest point could bring back a db from
    10:00:05 beside its log volume from 10:00:02. The app's moment is the oldest of the machines' newest
    points (at or before `at_or_before`); every machine then comes back from its newest point at or before it.
    """
    newest: dict[str, RecoveryPoint] = {}
    for machine, found in points.items():
        eligible = [p for p in found if at_or_before is None or p.time <= at_or_before]
        if not eligible:
            when = f" at or before {at_or_before.isoformat()}" if at_or_before else ""
            raise NoConsistentPoint(f"no recovery point of {machine}{when}")
        newest[machine] = max(eligible, key=lambda p: p.time)
    if not newest:
        return {}
    moment = min(p.time for p in newest.values())
    return {machine: _nearest(points[machine], moment, newest[machine]) for machine in points}


def _nearest(found: list[RecoveryPoint], moment: datetime, newest: RecoveryPoint) -> RecoveryPoint:
    """The machine's newest point at or before the moment; else its first point after it (up to its newest).

    Points of one pass are taken one machine after another (a vCenter stamps each snapshot itself), so a machine
    may have no point at or before the moment at all: the one nearest after it is the least skew there is.
    """
    before = [p for p in found if p.time <= moment]
    if before:
        return max(before, key=lambda p: p.time)
    return min((p for p in found if p.time <= newest.time), key=lambda p: p.time)
