"""Replication of a machine's data folder into point-in-time recovery points with rsync and hard links."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from activities.environment import child_environment
from activities.sites.local import transfer
from standby.contracts.sites import Transfer

POINT_FORMAT = "%Y%m%dT%H%M%S.%fZ"
_TEMPORARY_PREFIX = ".tmp-"
_ITEMIZED = re.compile(r"^[<>ch.*][fdLDS][.+?a-zA-Z ]{9} ")
# 24: some source files vanished during the pass; the point then holds the folder without them
_RSYNC_OK = (0, 24)


class ReplicationError(Exception):
    """A replication pass or a restore failed; the message names the folder and rsync's complaint."""


@dataclass(frozen=True)
class RecoveryPoint:
    """A point-in-time copy of a data folder: its UTC time and the folder holding it."""

    time: datetime
    path: Path


@dataclass(frozen=True)
class PassResult:
    """The outcome of one replication pass: whether the source changed, the new point if it did, its bytes."""

    changed: bool
    point: RecoveryPoint | None
    files_transferred: int = 0
    moved: Transfer = field(default_factory=Transfer)


def point_name(when: datetime) -> str:
    """The folder name of a point taken at `when`: a sortable UTC timestamp with microseconds."""
    if when.tzinfo is None:
        raise ValueError(f"recovery point time {when} has no time zone")
    return when.astimezone(UTC).strftime(POINT_FORMAT)


def _parse_point(path: Path) -> RecoveryPoint | None:
    """The point a folder under points_dir holds, or None for temporary and foreign folders."""
    try:
        moment = datetime.strptime(path.name, POINT_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return RecoveryPoint(moment, path) if path.is_dir() else None


def list_points(points_dir: Path) -> list[RecoveryPoint]:
    """Every complete recovery point under points_dir, oldest first."""
    if not points_dir.is_dir():
        return []
    points = (_parse_point(path) for path in points_dir.iterdir())
    return sorted((point for point in points if point is not None), key=lambda point: point.time)


def latest_point(points_dir: Path) -> RecoveryPoint | None:
    """The newest recovery point, or None when there is none."""
    points = list_points(points_dir)
    return points[-1] if points else None


def point_at_or_before(points_dir: Path, when: datetime) -> RecoveryPoint | None:
    """The newest recovery point taken at or before `when`, or None."""
    earlier = [point for point in list_points(points_dir) if point.time <= when]
    return earlier[-1] if earlier else None


def delete_point(point: RecoveryPoint) -> None:
    """Deletes a recovery point; it leaves the list at once, even if removing its files is interrupted."""
    with _pass_lock(point.path.parent):
        if not point.path.exists():
            return
        doomed = point.path.with_name(f"{_TEMPORARY_PREFIX}deleted-{point.path.name}-{uuid.uuid4().hex}")
        os.rename(point.path, doomed)
        shutil.rmtree(doomed)


def _rsync(*args: str) -> subprocess.CompletedProcess[str]:
    """Runs rsync with a stable output language and no digit grouping."""
    env = child_environment({"LC_ALL": "C"})
    try:
        return subprocess.run(["rsync", *args], capture_output=True, text=True, env=env, check=False)
    except FileNotFoundError:
        raise ReplicationError("rsync is not installed on this host (Debian package: rsync)") from None


def _entry_count(folder: Path) -> int:
    """Entries in a folder tree, counted as rsync's "Number of files" does (the folder itself included)."""
    return 1 + sum(len(dirs) + len(files) for _, dirs, files in os.walk(folder))


def _changed(output: str, previous: RecoveryPoint | None) -> bool:
    """Whether a pass found differences from the previous point.

    Against --link-dest, rsync itemizes only what it did not hard-link; files deleted from the
    source leave no line at all, so a different file count is the sign of a deletion.
    """
    if previous is None or any(_ITEMIZED.match(line) for line in output.splitlines()):
        return True
    return transfer.stat(output, "Number of files") != _entry_count(previous.path)


@contextlib.contextmanager
def _pass_lock(points_dir: Path) -> Iterator[None]:
    """Serializes passes into one points_dir, so a pass may remove the temporary folders of crashed passes."""
    points_dir.mkdir(parents=True, exist_ok=True)
    with open(points_dir / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _remove_leftovers(points_dir: Path) -> None:
    """Removes temporary folders that interrupted passes and deletions left behind."""
    for path in points_dir.glob(f"{_TEMPORARY_PREFIX}*"):
        shutil.rmtree(path, ignore_errors=True)


def _check_order(points_dir: Path, when: datetime) -> RecoveryPoint | None:
    """The point already taken at `when` (a retried pass), or None; refuses a time before the latest point."""
    latest = latest_point(points_dir)
    if latest is not None and latest.time == when:
        return latest
    if latest is not None and latest.time > when:
        raise ReplicationError(f"pass at {when.isoformat()} is older than the latest point {latest.path}")
    return None


def replicate_once(source: Path, points_dir: Path, now: datetime) -> PassResult:
    """Copies source into a new recovery point named for `now`, hard-linking unchanged files; none if unchanged.

    A retried pass with the same `now` returns the point the first try made; a `now` before the
    latest point raises ReplicationError, so that point times follow the data they hold.
    """
    name = point_name(now)
    moment = now.astimezone(UTC)
    if not source.is_dir():
        raise ReplicationError(f"replication source {source} is not a folder")
    with _pass_lock(points_dir):
        _remove_leftovers(points_dir)
        retried = _check_order(points_dir, moment)
        if retried is not None:
            return PassResult(changed=True, point=retried)
        return _copy(source, RecoveryPoint(moment, points_dir / name), latest_point(points_dir))


def _copy(source: Path, point: RecoveryPoint, previous: RecoveryPoint | None) -> PassResult:
    """The rsync pass into a temporary folder, renamed to the point's folder when anything changed."""
    points_dir, name = point.path.parent, point.path.name
    temporary = points_dir / f"{_TEMPORARY_PREFIX}{name}"
    link = [f"--link-dest={previous.path.resolve()}"] if previous else []
    # nanosecond mtimes (-1), so a same-size rewrite within one second is not taken for unchanged
    options = ["-a", "--delete", "--modify-window=-1", "--itemize-changes", "--stats", *link]
    result = _rsync(*options, *transfer.pull(source), f"{temporary}/")
    if result.returncode not in _RSYNC_OK:
        shutil.rmtree(temporary, ignore_errors=True)
        raise ReplicationError(f"rsync of {source} failed with code {result.returncode}: {result.stderr.strip()}")
    try:
        changed = _changed(result.stdout, previous)
        moved, transferred = transfer.measured(result.stdout, changed)
    except transfer.StatsError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise ReplicationError(f"replication of {source}: {error}") from None
    if not changed:
        shutil.rmtree(temporary)
        return PassResult(changed=False, point=None, moved=moved)
    os.rename(temporary, point.path)
    return PassResult(changed=True, point=point, files_transferred=transferred, moved=moved)


def restore_point(point: RecoveryPoint, dest: Path) -> None:
    """Copies a point into a data folder (real copies, no hard links, so the app never modifies the point)."""
    if not point.path.is_dir():
        raise ReplicationError(f"recovery point {point.path} does not exist")
    dest.mkdir(parents=True, exist_ok=True)
    # --ignore-times: a file in dest with the point's size and mtime may still differ; restores are rare
    result = _rsync("-a", "--delete", "--ignore-times", f"{point.path}/", f"{dest}/")
    if result.returncode != 0:
        raise ReplicationError(f"restore of {point.path} into {dest} failed: {result.stderr.strip()}")
