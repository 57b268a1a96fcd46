"""Replication state of a local machine, read from its points and the record of its last pass."""

import json
from datetime import datetime, timedelta
from pathlib import Path

from activities.sites.local import replication
from standby.contracts.local_layout import Layout
from standby.contracts.sites import MachineRef, MachineReplication, Transfer

# A machine is in continuous data protection while its last good pass is at most this many intervals old.
CONTINUOUS_INTERVALS = 5
CONTINUOUS_AT_LEAST = timedelta(seconds=10)


def record_pass(path: Path, now: datetime, source: str, changed: bool = False, error: str | None = None,
                moved: Transfer | None = None) -> None:
    """Remember a pass: its time, its source, its error, the bytes of every pass from that source so far;
    the last good pass survives failed ones."""
    previous = _read(path) or {}
    kept = previous.get("last_ok") if previous.get("source") == source else None
    last_ok = now.isoformat() if error is None else kept
    total = _total(previous, source).plus(moved or Transfer())
    _write(path, {"time": now.isoformat(), "source": source, "error": error, "changed": changed, "last_ok": last_ok,
                  "total": total.model_dump()})


def record_direction(path: Path, now: datetime, source: str) -> None:
    """Replication from `source` is set to run from now: the passes made before no longer count.

    Else a direction set again soon after it last ran (a return shortly after a failover) would look continuous
    on the strength of a pass from before, and stall a moment later, before any pass of its own. The bytes sent
    from that source so far are kept: a pause and a resume do not restart the count."""
    total = _total(_read(path) or {}, source)
    _write(path, {"time": now.isoformat(), "source": source, "error": None, "changed": False, "last_ok": None,
                  "total": total.model_dump()})


def _total(record: dict, source: str) -> Transfer:
    """The bytes a record counts for passes from `source`; none when it is of another source, or older."""
    if record.get("source") != source or not isinstance(record.get("total"), dict):
        return Transfer()
    return Transfer.model_validate(record["total"])


def _write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(record))
    temporary.replace(path)


def _read(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def machine_state(layout: Layout, source: str, target: str, machine: MachineRef, interval: float,
                  now: datetime) -> MachineReplication:
    """The phase of a machine's replication from `source` into `target`, with lag and latest point."""
    points = replication.list_points(layout.points(target, machine.name))
    record = _read(layout.last_pass(target, machine.name))
    latest = points[-1].time if points else None
    base = dict(machine=machine.name, latest_point=latest, points=len(points),
                total=_total(record, source) if record and record.get("source") == source else None)
    if record is None or record.get("source") != source:
        return MachineReplication(phase="initiating" if not points else "stalled",
                                  detail=f"no replication pass from {source} yet", **base)
    if not points:
        phase = "initiating" if record.get("error") else "initial_sync"
        return MachineReplication(phase=phase, detail=record.get("error") or "", **base)
    last_ok = datetime.fromisoformat(record["last_ok"]) if record.get("last_ok") else None
    if last_ok is None and not record.get("error"):
        return MachineReplication(phase="backlog", detail=f"no pass from {source} since its direction was set",
                                  **base)
    lag = (now - last_ok).total_seconds() if last_ok else None
    limit = max(CONTINUOUS_AT_LEAST.total_seconds(), CONTINUOUS_INTERVALS * interval)
    if lag is not None and lag <= limit:
        return MachineReplication(phase="continuous", lag_seconds=round(lag, 3), **base)
    detail = record.get("error") or (f"no good pass for {lag:.0f}s" if lag is not None else "no good pass yet")
    return MachineReplication(phase="stalled", lag_seconds=lag, detail=detail, **base)
