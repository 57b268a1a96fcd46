"""Replication with rsync into hard-linked recovery points, and restores that are consistent prefixes of a live db."""

from __future__ import annotations

import json
import os
import signal
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from activities.sites.local.processes import free_port, running_pid, start_process, stop_process, wait_for_port
from activities.sites.local.replication import (
    RecoveryPoint,
    ReplicationError,
    delete_point,
    latest_point,
    list_points,
    point_at_or_before,
    replicate_once,
    restore_point,
)
from sampleapp.launch import service_argv, service_env

T0 = datetime(2026, 11, 22, 10, 15, 0, 123456, tzinfo=UTC)
StartDb = Callable[[Path], str]


def at(seconds: float) -> datetime:
    """A pass time, seconds after T0."""
    return T0 + timedelta(seconds=seconds)


def post(url: str, order: dict[str, Any]) -> dict[str, Any]:
    """POSTs an order and returns the acknowledged record."""
    request = urllib.request.Request(f"{url}/orders", data=json.dumps(order).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 201
        record: dict[str, Any] = json.loads(response.read())
        return record


def orders(url: str) -> list[dict[str, Any]]:
    """Every order the db at url serves."""
    with urllib.request.urlopen(f"{url}/orders", timeout=5) as response:
        served: list[dict[str, Any]] = json.loads(response.read())
        return served


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A data folder with a file at the top and one in a sub-folder."""
    (tmp_path / "source" / "sub").mkdir(parents=True)
    (tmp_path / "source" / "a.txt").write_text("alpha")
    (tmp_path / "source" / "sub" / "b.txt").write_text("beta")
    return tmp_path / "source"


@pytest.fixture
def start_db(tmp_path: Path) -> Iterator[StartDb]:
    """Starts a db process on a data folder; every one is stopped after the test."""
    pid_files: list[Path] = []

    def start(data: Path) -> str:
        port = free_port()
        pid_files.append(tmp_path / "run" / f"db-{port}.pid")
        argv = service_argv("db", port, data)
        start_process(argv, pid_file=pid_files[-1], log_file=tmp_path / "run" / f"db-{port}.log", env=service_env())
        wait_for_port(port, timeout=10)
        return f"http://127.0.0.1:{port}"

    yield start
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda pid_file: stop_process(pid_file, timeout=2), pid_files))


def test_a_pass_without_change_makes_no_point(source: Path, tmp_path: Path) -> None:
    first = replicate_once(source, tmp_path / "points", at(0))
    assert first.changed and first.point == RecoveryPoint(at(0), tmp_path / "points" / "20261122T101500.123456Z")
    second = replicate_once(source, tmp_path / "points", at(1))
    assert not second.changed and second.point is None
    assert list_points(tmp_path / "points") == [first.point]
    assert sorted(path.name for path in (tmp_path / "points").iterdir()) == [".lock", "20261122T101500.123456Z"]


def test_a_change_makes_a_point_that_hard_links_unchanged_files(source: Path, tmp_path: Path) -> None:
    first = replicate_once(source, tmp_path / "points", at(0)).point
    (source / "a.txt").write_text("alpha, changed")
    result = replicate_once(source, tmp_path / "points", at(1))
    assert result.changed and result.point is not None and result.files_transferred == 1
    old, new = first.path, result.point.path  # type: ignore[union-attr]
    assert (new / "sub" / "b.txt").stat().st_ino == (old / "sub" / "b.txt").stat().st_ino
    assert (new / "a.txt").stat().st_ino != (old / "a.txt").stat().st_ino
    assert (new / "a.txt").read_text() == "alpha, changed" and (old / "a.txt").read_text() == "alpha"


def test_a_deleted_file_is_a_change(source: Path, tmp_path: Path) -> None:
    replicate_once(source, tmp_path / "points", at(0))
    (source / "sub" / "b.txt").unlink()
    result = replicate_once(source, tmp_path / "points", at(1))
    assert result.changed and result.point is not None
    assert not (result.point.path / "sub" / "b.txt").exists() and (result.point.path / "a.txt").exists()


def test_a_missing_source_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReplicationError, match=str(tmp_path / "nowhere")):
        replicate_once(tmp_path / "nowhere", tmp_path / "points", at(0))


def test_a_retried_pass_returns_its_point_and_time_never_goes_back(source: Path, tmp_path: Path) -> None:
    first = replicate_once(source, tmp_path / "points", at(5))
    (source / "a.txt").write_text("later")
    retried = replicate_once(source, tmp_path / "points", at(5))
    assert retried.changed and retried.point == first.point and len(list_points(tmp_path / "points")) == 1
    with pytest.raises(ReplicationError, match="older than the latest point"):
        replicate_once(source, tmp_path / "points", at(4))


def test_points_are_listed_oldest_first_and_found_by_time(source: Path, tmp_path: Path) -> None:
    points_dir = tmp_path / "points"
    made = []
    for second in range(3):
        (source / "a.txt").write_text(f"version {second}")
        made.append(replicate_once(source, points_dir, at(second * 60)).point)
    (points_dir / ".tmp-20991231T000000.000000Z").mkdir()
    (points_dir / "notes").mkdir()
    assert list_points(points_dir) == made and latest_point(points_dir) == made[2]
    assert point_at_or_before(points_dir, at(90)) == made[1]
    assert point_at_or_before(points_dir, at(60)) == made[1]
    assert point_at_or_before(points_dir, at(-1)) is None
    delete_point(made[1])  # type: ignore[arg-type]
    assert list_points(points_dir) == [made[0], made[2]]
    assert (made[2].path / "a.txt").read_text() == "version 2"  # type: ignore[union-attr]


def test_restore_copies_without_hard_links(source: Path, tmp_path: Path) -> None:
    point = replicate_once(source, tmp_path / "points", at(0)).point
    assert point is not None
    dest = tmp_path / "restored"
    (dest / "sub").mkdir(parents=True)
    (dest / "stray.txt").write_text("not in the point")
    restore_point(point, dest)
    assert sorted(str(path.relative_to(dest)) for path in dest.rglob("*")) == ["a.txt", "sub", "sub/b.txt"]
    assert (dest / "a.txt").stat().st_ino != (point.path / "a.txt").stat().st_ino
    (dest / "a.txt").write_text("modified by the launched app")
    assert (point.path / "a.txt").read_text() == "alpha"


def test_every_point_taken_during_writes_restores_to_a_consistent_prefix(start_db: StartDb, tmp_path: Path) -> None:
    db = start_db(tmp_path / "live")
    acknowledged: list[dict[str, Any]] = []
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            n = len(acknowledged) + 1
            acknowledged.append(post(db, {"item": f"item-{n}-" + "x" * (n % 7), "qty": n % 5 + 1}))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        for second in range(20):
            replicate_once(tmp_path / "live", tmp_path / "points", at(second))
    finally:
        stop.set()
        writer.join()
    points = list_points(tmp_path / "points")
    assert len(points) >= 10 and len(acknowledged) > len(points)
    for index, point in enumerate(points):
        restore_point(point, tmp_path / "restored" / str(index))
    with ThreadPoolExecutor(8) as pool:
        urls = list(pool.map(start_db, [tmp_path / "restored" / str(index) for index in range(len(points))]))
    counts = []
    for url in urls:
        served = orders(url)
        assert served == acknowledged[: len(served)]
        counts.append(len(served))
    assert counts == sorted(counts) and counts[-1] > 0


def test_the_latest_point_serves_the_data_of_a_killed_db(start_db: StartDb, tmp_path: Path) -> None:
    db = start_db(tmp_path / "live")
    written = [post(db, {"item": f"item-{n}", "qty": n}) for n in range(1, 6)]
    pid = running_pid(next((tmp_path / "run").glob("*.pid")))
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    replicate_once(tmp_path / "live", tmp_path / "points", at(0))
    latest = latest_point(tmp_path / "points")
    assert latest is not None
    restore_point(latest, tmp_path / "restored")
    assert orders(start_db(tmp_path / "restored")) == written
