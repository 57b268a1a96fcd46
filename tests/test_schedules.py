"""Drill schedules on the real dev server: made by the CLI, they drill the shop through its owner, skip runs that
would overlap, count in compliance, and raise the runbook's on_alert hook when a drill fails."""

import sys
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus

from standby.contracts.programme import ScheduledDrillResult
from standby.runbook import Runbook
from standby.schedules import _row, schedule_id
from tests.helpers import eventually_async
from tests.ops_helpers import owner_status, runbook_variant, start_protect, stop_workflows
from tests.programme_support import delete_schedule, programme_worker, standby, standby_json

__all__ = ["programme_worker"]  # the fixture, used by name


async def scheduled_runs(client: Client, runbook: str, status: str) -> list[str]:
    """IDs of the runbook's ScheduledDrill workflows in one status (`Completed`, `Failed`)."""
    query = f"WorkflowType = 'ScheduledDrill' AND Runbook = '{runbook}' AND ExecutionStatus = '{status}'"
    return [w.id async for w in client.list_workflows(query)]


async def compliance_of(client: Client, task_queue: str, runbook: Runbook) -> dict:
    """The runbook's entry in `standby compliance --json`."""
    found = await standby_json(client, task_queue, "compliance")
    return next(r for r in found["runbooks"] if r["runbook"] == runbook.runbook)


async def test_cli_schedule_drills_through_the_owner_skips_overlaps_and_counts_in_compliance(
        client, task_queue, programme_worker, shop_file):
    runbook = runbook_variant(shop_file)
    name, ident = runbook.runbook, schedule_id(runbook.runbook)
    owner = await start_protect(client, runbook, task_queue)
    try:
        # Every 2 s, while a drill takes longer (it keeps its targets 1 s): runs that would overlap are skipped.
        made = await standby(client, task_queue, "schedule", "drill", name, "--every", "2s", "--keep-for", "1s")
        assert f"drill schedule {ident} created: every 2s" in made and "/schedules/" in made
        done = await eventually_async(lambda: _at_least(scheduled_runs(client, name, "Completed"), 2), 90, 0.5,
                                      "two scheduled drills completed")
        await standby(client, task_queue, "schedule", "pause", name)
        described = await client.get_schedule_handle(ident).describe()
        assert described.schedule.state.paused and described.info.num_actions_skipped_overlap >= 1

        results = [await client.get_workflow_handle(i, result_type=ScheduledDrillResult).result() for i in done]
        assert {r.state for r in results} == {"passed"}
        truth = (await owner_status(client, runbook)).truth
        assert truth.last_drill is not None and truth.last_drill.passed
        assert truth.last_drill.workflow_id.startswith(f"standby/{name}/drill/")
        assert f" drill requested by schedule standby/{name}/scheduled-drill" in truth.history[-1]

        evidence = await compliance_of(client, task_queue, runbook)
        assert evidence["drill"]["passed"] and evidence["drill"]["age"]["inside"] is True
        assert evidence["drill"]["time"].replace("+00:00", "Z").startswith(
            truth.last_drill.time.isoformat().replace("+00:00", "Z")[:19])
        assert evidence["last_drill"]["workflow_id"] == f"standby/{name}/drill"

        listed = [r for r in await standby_json(client, task_queue, "schedule", "list") if r["runbook"] == name]
        assert [(r["id"], r["every"], r["paused"], r["keep_for"]) for r in listed] == [(ident, "2s", True, "1s")]
        assert listed[0]["runs"] >= 2 and listed[0]["skipped_overlapping"] >= 1
        await standby(client, task_queue, "schedule", "resume", name)
        assert not (await client.get_schedule_handle(ident).describe()).schedule.state.paused
        assert await standby(client, task_queue, "schedule", "delete", name) == f"{ident}: deleted\n"
        assert name not in [r["runbook"] for r in await standby_json(client, task_queue, "schedule", "list")]
        refused = await standby(client, task_queue, "schedule", "pause", name, code=1)
        assert f"runbook '{name}' has no drill schedule" in refused
    finally:
        await delete_schedule(client, ident)
        await _stop_scheduled(client, name)
        await stop_workflows(owner)


async def test_a_failed_scheduled_drill_raises_the_runbooks_alert_hook(client, task_queue, programme_worker, shop_file,
                                                                      tmp_path: Path):
    alerts = tmp_path / "alerts.log"
    notify = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')"
    runbook = runbook_variant(shop_file, hooks=[
        {"at": "post_launch:db", "run": [sys.executable, "-c", "raise SystemExit(3)"], "operations": ["drill"]},
        {"at": "on_alert", "run": ["{{ python }}", "-c", notify, str(alerts), "{{ runbook }} | {{ alert }}"]}])
    name, ident = runbook.runbook, schedule_id(runbook.runbook)
    owner = await start_protect(client, runbook, task_queue)
    try:
        await standby(client, task_queue, "schedule", "drill", f"{shop_file.parent}/{name}.yaml", "--every", "2s",
                      "--only", "db", "--keep-for", "1s")
        failed = await eventually_async(lambda: scheduled_runs(client, name, "Failed"), 90, 0.5, "a failed drill")
        await delete_schedule(client, ident)
        line = alerts.read_text().splitlines()[0]
        assert line.startswith(f"{name} | scheduled drill of {name} failed: ")
        assert line.endswith("hook post_launch:db: " + sys.executable + " exited with code 3")

        handle = client.get_workflow_handle(failed[0])
        assert (await handle.describe()).status == WorkflowExecutionStatus.FAILED
        truth = (await owner_status(client, runbook)).truth
        assert truth.last_drill is not None and not truth.last_drill.passed and truth.last_drill.apps == ["db"]
        evidence = await compliance_of(client, task_queue, runbook)
        assert evidence["drill"]["passed"] is False and evidence["drill"]["age"]["inside"] is False
        assert evidence["compliant"] is False and any(s.startswith("last drill failed") for s in evidence["outside"])
    finally:
        await delete_schedule(client, ident)
        await _stop_scheduled(client, name)
        await stop_workflows(owner)


async def _at_least(found, count: int) -> list[str] | None:
    ids = await found
    return ids if len(ids) >= count else None


async def _stop_scheduled(client: Client, runbook: str) -> None:
    """Terminate the scheduled drills (and their drills) still running, so nothing outlives the test."""
    query = f"Runbook = '{runbook}' AND ExecutionStatus = 'Running' AND WorkflowType != 'Runbook'"
    await stop_workflows(*[client.get_workflow_handle(w.id) async for w in client.list_workflows(query)])


async def test_a_schedule_the_listing_still_names_but_that_is_gone_is_left_out(client):
    # The listing is eventually consistent: a schedule deleted a moment ago is still in it, and describing it is
    # refused "not found". `standby schedule list` leaves it out instead of failing.
    assert await _row(client, schedule_id("deleted-a-moment-ago")) is None
