"""`standby compliance` on the real dev server, for two protected shops: one drilled and failed over, one drilled;
the JSON has every figure against its objective, the HTML its chart."""

import asyncio
from datetime import timedelta
from pathlib import Path

from standby.runbook import Runbook
from tests.conftest import free_block, shop_text
from tests.ops_helpers import (
    finished,
    request,
    result_answering,
    runbook_variant,
    start_protect,
    stop_workflows,
)
from tests.programme_support import programme_worker, standby, standby_json

__all__ = ["programme_worker"]  # the fixture, used by name


def second_shop(tmp_path: Path) -> Path:
    """Another copy of the sample shop, on free ports of its own."""
    primary, dr, public = free_block(3), free_block(3), free_block(3)
    ports = {"port_base: 18100": f"port_base: {primary}",
             "port_base: 18200": f"port_base: {dr}, test_port_base: {free_block(3)}",
             "port: 18001": f"port: {public + 1}", "port: 18002": f"port: {public + 2}",
             "port: 18000": f"port: {public}"}
    path = tmp_path / "other" / "shop.yaml"
    path.parent.mkdir()
    path.write_text(shop_text(ports))
    return path


async def drilled(client, runbook: Runbook, task_queue: str) -> None:
    """Protect the runbook and drill it (its targets kept 1 s); the drill passes."""
    await start_protect(client, runbook, task_queue)
    drill = await request(client, runbook, task_queue, "drill", yes=True, keep_for=timedelta(seconds=1))
    assert (await finished(drill)).state == "passed"


def measured(entry: dict, operation: str) -> dict[str, tuple]:
    """Each app's (RTO, its objective, inside) and (RPO, its objective, inside) in an operation of the entry."""
    return {a["app"]: ((a["rto"]["seconds"], a["rto"]["objective_seconds"], a["rto"]["inside"]),
                       (a["rpo"]["seconds"], a["rpo"]["objective_seconds"], a["rpo"]["inside"]))
            for a in entry[operation]["apps"]}


async def test_compliance_shows_every_runbooks_evidence_against_its_objectives(client, task_queue, programme_worker,
                                                                            shop_file, tmp_path: Path):
    failed_over, drilled_only = runbook_variant(shop_file), runbook_variant(second_shop(tmp_path))
    try:
        await asyncio.gather(drilled(client, failed_over, task_queue), drilled(client, drilled_only, task_queue))
        failover = await request(client, failed_over, task_queue, "failover", yes=True)
        assert (await result_answering(client, failover)).state == "failed_over"

        found = await standby_json(client, task_queue, "compliance")
        entries = {r["runbook"]: r for r in found["runbooks"]}
        a, b = entries[failed_over.runbook], entries[drilled_only.runbook]
        for entry, runbook in ((a, failed_over), (b, drilled_only)):
            drill = entry["drill"]
            assert (drill["passed"], drill["forced"], drill["apps"]) == (True, False, ["db", "api", "web"])
            assert drill["age"]["objective_seconds"] == 7 * 86400 and drill["age"]["inside"] is True
            assert entry["last_drill"]["workflow_id"] == f"standby/{runbook.runbook}/drill"
            assert entry["last_drill"]["state"] == "passed"
            for app, (rto, rpo) in measured(entry, "last_drill").items():
                assert rto[0] is not None and rto[0] > 0 and rto[1:] == (60, rto[0] <= 60), app
                assert rpo[0] is not None and rpo[0] >= 0 and rpo[1] == (30 if app == "db" else None), app
        assert b["last_failover"] is None and a["last_failover"]["state"] == "failed_over"
        assert set(measured(a, "last_failover")) == {"db", "api", "web"}
        db_rto, db_rpo = measured(a, "last_failover")["db"]
        assert db_rto[2] is (db_rto[0] <= 60) and db_rpo[2] is (db_rpo[0] <= 30)

        assert {m["machine"] for m in b["machines"]} == {"db1", "app1", "web1"}
        db1 = next(m for m in b["machines"] if m["machine"] == "db1")
        assert db1["phase"] == "continuous" and db1["lag"]["objective_seconds"] == 30
        age = db1["point_age"]
        assert 0 <= age["seconds"] < 600 and age["inside"] is (age["seconds"] <= age["objective_seconds"])
        assert a["protecting"] and {m["machine"] for m in a["machines"]} == {"db1", "app1", "web1"}
        assert found["compliant"] == sum(1 for r in found["runbooks"] if not r["outside"])

        report = tmp_path / "compliance.html"
        assert (await standby(client, task_queue, "compliance", "-o", str(report))).strip() == str(report)
        html = report.read_text()
        assert f">{failed_over.runbook}</text>" in html and f">{drilled_only.runbook}</text>" in html
        table = await standby(client, task_queue, "compliance")
        assert failed_over.runbook in table and "runbooks inside every objective" in table
    finally:
        owners = [client.get_workflow_handle(f"standby/{r.runbook}") for r in (failed_over, drilled_only)]
        await stop_workflows(*owners)
