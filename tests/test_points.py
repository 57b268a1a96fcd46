"""Recovery points on the real dev server: `standby points` lists each machine's points with the rule keeping them,
and a failover with `--point` recovers the shop from that older point, serving exactly the orders it holds."""

from datetime import datetime
from pathlib import Path

from sampleapp.db import LOG_NAME, read_log
from standby.contracts.local_layout import Layout
from tests.helpers import eventually_async
from tests.ops_helpers import (
    place_order,
    public_port,
    request,
    result_answering,
    runbook_variant,
    served_items,
    serves_all,
    start_protect,
    stop_workflows,
)
from tests.programme_support import programme_worker, standby, standby_json

__all__ = ["programme_worker"]  # the fixture, used by name


async def point_holding(client, task_queue: str, runbook: str, state_dir: Path, item: str) -> dict | None:
    """The oldest recovery point of db1 whose journal holds the order `item`, as `standby points --json` lists it.
    By content, not by time: a pass that began before the order was sent may still have copied it, and no later
    pass makes a point of unchanged data."""
    listed = await standby_json(client, task_queue, "points", runbook, "--app", "db")
    holding = [point for point in listed["machines"][0]["points"]
               if (journal := Layout(state_dir, runbook).points("dr", "db1") / point["id"] / LOG_NAME).exists()
               and item in [order["item"] for order in read_log(journal)[0]]]
    return min(holding, key=lambda point: datetime.fromisoformat(point["time"]), default=None)


async def test_failover_to_an_older_point_serves_that_points_data(client, task_queue, programme_worker, shop_file,
                                                                 state_dir):
    # A journal of every pass for 5 minutes: else a point within the newest 10-minute bucket is pruned by the next.
    runbook = runbook_variant(shop_file, edit=lambda d: d["protection"]["recovery_points"].update(every_pass_for="5m"))
    name, web = runbook.runbook, public_port(runbook, "web")
    owner = await start_protect(client, runbook, task_queue)
    handles = [owner]
    try:
        kept = (await place_order(web, "in-the-older-point"))["item"]
        older = await eventually_async(lambda: point_holding(client, task_queue, name, state_dir, kept), 60,
                                       0.3, "a point holding the first order")
        # Sent once that point exists: it cannot hold this order, a later point does.
        lost = (await place_order(web, "after-the-older-point"))["item"]
        await eventually_async(lambda: point_holding(client, task_queue, name, state_dir, lost), 60, 0.3,
                               "a point holding the second order")
        held = read_log(Layout(state_dir, name).points("dr", "db1") / older["id"] / LOG_NAME)[0]
        assert kept in [o["item"] for o in held] and lost not in [o["item"] for o in held]

        text = await standby(client, task_queue, "points", name, "--app", "db")
        assert "db1 (db) at dr" in text and "newest, every pass (for 5m), 10-minute (for 1h)" in text
        listed = await standby_json(client, task_queue, "points", name)
        assert {m["machine"] for m in listed["machines"]} == {"db1", "app1", "web1"}
        now_kept = next(p for p in listed["machines"][0]["points"] if p["id"] == older["id"])["kept_by"]
        # Kept as one of every pass; also as its 10-minute bucket's point when it ended that bucket (a wall-clock
        # boundary fell between the two orders), which a run near hh:m0 sees.
        assert older["id"] in text and "every pass" in now_kept and set(now_kept) <= {"every pass", "10-minute"}

        failover = await request(client, runbook, task_queue, "failover", yes=True, force=True,
                                 point=datetime.fromisoformat(older["time"]))
        handles.append(failover)
        result = await result_answering(client, failover)
        db = next(a for a in result.apps if a.app == "db")
        assert db.point is not None and db.point.id == older["id"]
        await serves_all(web, [kept])
        assert await served_items(web) == [o["item"] for o in held]
    finally:
        await stop_workflows(*handles)


async def test_points_of_an_unknown_app_or_runbook_are_refused_with_the_fix(client, task_queue, programme_worker,
                                                                            shop_file):
    missing = await standby(client, task_queue, "points", "no-such-runbook", code=1)
    assert "runbook 'no-such-runbook' has no owner workflow" in missing and "standby protect" in missing
    runbook = runbook_variant(shop_file)
    owner = await start_protect(client, runbook, task_queue)
    try:
        unknown = await standby(client, task_queue, "points", runbook.runbook, "--app", "dbb", code=1)
        assert "unknown app(s) 'dbb' (did you mean 'db'?) in --app" in unknown
    finally:
        await stop_workflows(owner)
