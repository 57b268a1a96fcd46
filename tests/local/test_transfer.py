"""What crosses between local sites: rsync's delta transfer and compression, counted by real rsync on real files."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from rich.console import Console

from activities.sites.local import replication
from activities.sites.local.provider import LocalSiteProvider
from standby import lifecycle, views
from standby.contracts.local_layout import Layout
from standby.contracts.protect import OwnerStatus
from standby.contracts.sites import (
    DirectionInput,
    MachineReplication,
    ReplicationInput,
    Transfer,
    machine_refs,
    site_ref,
)
from standby.loader import load
from standby.runbook import Runbook

LARGE = 8_000_000


@pytest.fixture
def runbook(shop_file: Path) -> Runbook:
    return load(shop_file)


@pytest.fixture
def dr(runbook: Runbook, state_dir: Path) -> LocalSiteProvider:
    return LocalSiteProvider(site_ref(runbook, "dr"), state_dir)


def one_round(runbook: Runbook) -> ReplicationInput:
    """One pass of db1 from primary into dr, with no app to supervise."""
    return ReplicationInput(source=site_ref(runbook, "primary"), target=site_ref(runbook, "dr"),
                            machines=machine_refs(runbook, ["db1"]), retention=runbook.protection.recovery_points,
                            seconds=0)


def log_lines(count: int, seed: int) -> bytes:
    """Order-log-like lines: text that compresses as a real log does, but not to nothing."""
    rng = random.Random(seed)
    return b"".join(b'{"id":%d,"item":"item-%08x","qty":%d}\n' % (n, rng.getrandbits(32), rng.randint(1, 9))
                    for n in range(count))


async def replicated(dr: LocalSiteProvider, runbook: Runbook) -> MachineReplication:
    [state] = await dr.replicate(one_round(runbook))
    return state


def data(state_dir: Path) -> Path:
    folder = Layout(state_dir, "shop").data("primary", "db1")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def latest_copy(state_dir: Path) -> bytes:
    point = replication.latest_point(Layout(state_dir, "shop").points("dr", "db1"))
    assert point is not None
    return (point.path / "orders.log").read_bytes()


async def test_an_append_to_a_large_file_sends_a_small_part_of_it(dr, runbook, state_dir) -> None:
    log = data(state_dir) / "orders.log"
    log.write_bytes(log_lines(LARGE // 40, seed=1))
    first = await replicated(dr, runbook)
    appended = log_lines(500, seed=2)
    with log.open("ab") as file:
        file.write(appended)

    second = await replicated(dr, runbook)

    size = log.stat().st_size
    assert first.last_round is not None and second.last_round is not None and second.total is not None
    moved = second.last_round
    assert moved.passes == 1 and moved.files_bytes == size, "a whole-file copy would send the file"
    assert len(appended) <= moved.changed_bytes < len(appended) + 4096, "rsync's block match found the old part"
    assert moved.sent_bytes < size / 50, f"{moved.sent_bytes} bytes crossed for a {len(appended)}-byte append"
    assert first.last_round.sent_bytes < size / 2, "the first copy crossed uncompressed"
    assert second.total == first.last_round.plus(moved)
    assert latest_copy(state_dir) == log.read_bytes()


async def test_new_data_crosses_compressed(dr, runbook, state_dir) -> None:
    (data(state_dir) / "orders.log").write_bytes(b'{"item":"same","qty":1}\n' * 40_000)

    moved = (await replicated(dr, runbook)).last_round

    assert moved is not None and moved.changed_bytes == 24 * 40_000
    assert moved.sent_bytes < moved.changed_bytes / 20


async def test_an_unchanged_pass_sends_only_the_file_list(dr, runbook, state_dir) -> None:
    (data(state_dir) / "orders.log").write_bytes(log_lines(1000, seed=3))
    first = await replicated(dr, runbook)

    again = await replicated(dr, runbook)

    assert again.last_round is not None and again.last_round.passes == 0
    assert again.last_round.changed_bytes == again.last_round.files_bytes == 0
    assert 0 < again.last_round.sent_bytes < 500
    assert again.points == first.points == 1


async def test_the_count_survives_a_pause_and_a_status_reads_it(dr, runbook, state_dir) -> None:
    (data(state_dir) / "orders.log").write_bytes(log_lines(1000, seed=4))
    first = await replicated(dr, runbook)
    direction = DirectionInput(source=site_ref(runbook, "primary"), target=site_ref(runbook, "dr"),
                               machines=machine_refs(runbook, ["db1"]), running=True)
    await dr.set_direction(direction)

    [status] = await dr.replication(one_round(runbook))

    assert status.total == first.last_round and status.total is not None and status.total.sent_bytes > 0
    assert status.last_round is None, "a status check makes no round"


def test_status_shows_bytes_changed_and_sent_per_machine(runbook) -> None:
    moved = MachineReplication(machine="db1", phase="continuous", last_round=Transfer(changed_bytes=2_500,
                               sent_bytes=900), total=Transfer(changed_bytes=3_200_000, sent_bytes=1_100_000))
    older = MachineReplication.model_validate({"machine": "app1", "phase": "continuous"})
    console = Console(width=200, record=True)

    console.print(views.owner_view(OwnerStatus(truth=lifecycle.protected(runbook), machines=[moved, older])))

    lines = console.export_text().splitlines()
    assert "changed (round/total)" in "".join(lines) and "sent (round/total)" in "".join(lines)
    assert any("db1" in line and "2.5 KB/3.2 MB" in line and "900 B/1.1 MB" in line for line in lines)
    assert any("app1" in line and line.count("-/-") == 2 for line in lines), "a payload without the figures"
