"""Recovery points of vSphere replicas: VM snapshots Standby takes on the site's schedule and prunes by retention.

Only snapshots named `standby-...` are Standby's; an administrator's own
snapshots are never listed, reverted to or removed.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pyVmomi import vim

from standby.contracts.sites import MachineReplication
from standby.retention import RetentionPolicy, points_to_keep
from standby.runbook import RecoveryPoints

PREFIX = "standby-"
# A replica stays in continuous protection while its newest point is at most two intervals old, plus this slack
# for the Protect round that takes it (5 s) and a busy vCenter.
SLACK = timedelta(seconds=30)


@dataclass(frozen=True)
class Point:
    """One of Standby's snapshots of a VM."""

    name: str
    time: datetime
    snapshot: vim.vm.Snapshot


def points(info: vim.vm.SnapshotInfo | None) -> list[Point]:
    """Standby's snapshots in a VM's snapshot tree, oldest first."""
    found: list[Point] = []
    pending = list(info.rootSnapshotList) if info else []
    while pending:
        node = pending.pop()
        pending.extend(node.childSnapshotList or [])
        if node.name.startswith(PREFIX):
            found.append(Point(node.name, _utc(node.createTime), node.snapshot))
    return sorted(found, key=lambda p: p.time)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def point_name(now: datetime) -> str:
    """`standby-20240501T101500.123Z`: sortable, unique per millisecond, readable in the vSphere client."""
    return PREFIX + now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z"


def due(existing: list[Point], now: datetime, interval: timedelta) -> bool:
    """Whether the schedule wants a new point now."""
    return not existing or now - existing[-1].time >= interval


def expired(existing: list[Point], now: datetime, retention: RecoveryPoints) -> list[Point]:
    """Points the retention policy no longer keeps (never the newest)."""
    keep = points_to_keep([p.time for p in existing], now, RetentionPolicy(**retention.model_dump()))
    return [p for p in existing if p.time not in keep]


def find(existing: list[Point], name: str) -> Point | None:
    """The point of that name."""
    return next((p for p in existing if p.name == name), None)


def state(machine: str, existing: list[Point], now: datetime, interval: timedelta, paused: bool) -> MachineReplication:
    """The replication phase of a replica, from the age of its newest point."""
    if not existing:
        return MachineReplication(machine=machine, phase="creating_first_point", detail="no snapshot taken yet")
    latest = existing[-1].time
    lag = max(0.0, (now - latest).total_seconds())
    base = dict(machine=machine, latest_point=latest, points=len(existing), lag_seconds=round(lag, 3))
    if lag <= (2 * interval + SLACK).total_seconds():
        return MachineReplication(phase="continuous", **base)
    due = f"newest point is {lag:.0f}s old, one is due every {interval.total_seconds():.0f}s"
    why = "replication paused" if paused else due
    return MachineReplication(phase="stalled", detail=why, **base)


def snapshot_spec(name: str) -> dict:
    """Arguments of CreateSnapshot_Task for a recovery point: disks only, crash-consistent."""
    # Replicas are powered off (memory has nothing to save) and may lack VMware Tools (no quiescing).
    return dict(name=name, description="recovery point taken by Standby", memory=False, quiesce=False)
