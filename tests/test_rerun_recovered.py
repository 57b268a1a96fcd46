"""A rerun of a failover that failed after its first group recovered: db (group data) serves at dr, api and web
(group services) never launched. The rerun keeps db as it is and recovers the rest, on the real dev server with
the local provider's real processes.
"""

import asyncio
import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError

from activities.sites.local.processes import running_pid
from standby.contracts.local_layout import Layout
from standby.runbook import Runbook
from tests.helpers import http
from tests.ops_helpers import (
    finished,
    owner_status,
    public_port,
    request,
    runbook_variant,
    start_protect,
    stop_runbook,
)


@pytest.fixture
async def gated(client, task_queue, worker, shop_file, tmp_path):
    """A protected shop whose api launches only once `gate` exists (a pre-launch command step that fails before):
    the first failover fails in group services, after group data recovered db."""
    gate = tmp_path / "api-may-launch"
    check = f"import os, sys; sys.exit(0 if os.path.exists({str(gate)!r}) else 1)"

    def hooks(document: dict) -> None:
        document["hooks"] = [{"at": "pre_launch:api", "run": ["{{ python }}", "-c", check]}]

    runbook = runbook_variant(shop_file, edit=hooks)
    await start_protect(client, runbook, task_queue)
    yield runbook, gate
    await stop_runbook(client, runbook.runbook)


def launches(state_dir: Path, runbook: Runbook) -> list[str]:
    """The machines started at dr, one entry per real start (the local provider's launch log)."""
    log = Layout(state_dir, runbook.runbook).launches("dr")
    return sorted(json.loads(line)["machine"] for line in log.read_text().splitlines()) if log.exists() else []


async def probe_db(port: int, failures: list[str], done: asyncio.Event) -> int:
    """db's health through its public endpoint, again and again until `done`; how many probes answered."""
    answered = 0
    while not done.is_set():
        try:
            status, _ = await asyncio.to_thread(http, "GET", port, "/health", timeout=2)
        except OSError as error:
            failures.append(f"{type(error).__name__}: {error}")
        else:
            answered += status == 200
            if status != 200:
                failures.append(f"status {status}")
        await asyncio.sleep(0.02)
    return answered


async def test_a_failover_rerun_keeps_db_that_the_failed_run_recovered_and_recovers_the_rest(
        client, task_queue, gated, state_dir):
    runbook, gate = gated
    with pytest.raises(WorkflowFailureError):
        await finished(await request(client, runbook, task_queue, "failover", yes=True, force=True), 90)
    apps = (await owner_status(client, runbook)).truth.apps
    assert {app: (s.phase, s.serving) for app, s in apps.items()} == {
        "db": ("interrupted", "dr"), "api": ("interrupted", None), "web": ("interrupted", None)}
    db_pid = running_pid(Layout(state_dir, runbook.runbook).pid("dr", "db1"))
    assert db_pid is not None and launches(state_dir, runbook) == ["db1"]

    gate.touch()
    failures: list[str] = []
    done = asyncio.Event()
    probes = asyncio.create_task(probe_db(public_port(runbook, "db"), failures, done))
    try:
        rerun = await finished(await request(client, runbook, task_queue, "failover", yes=True, force=True), 90)
    finally:
        done.set()
    answered = await probes
    assert rerun.state == "failed_over", rerun.error
    assert answered > 0 and failures == [], f"db stopped answering during the rerun: {failures[:5]}"
    assert running_pid(Layout(state_dir, runbook.runbook).pid("dr", "db1")) == db_pid, "the first run's db serves on"
    assert launches(state_dir, runbook) == ["app1", "db1", "web1"], "each machine launched once over both runs"
    assert sorted(a.app for a in rerun.apps) == ["api", "web"]
    kept = next(s for s in rerun.steps if s.name.startswith("keep "))
    assert kept.name == "keep db serving at dr: the interrupted run recovered it there"
    apps = (await owner_status(client, runbook)).truth.apps
    assert {app: (s.phase, s.serving) for app, s in apps.items()} == dict.fromkeys(
        ("db", "api", "web"), ("failed_over", "dr"))
