"""Reports of one operation: the pure rendering from hand-built results, then `standby report` on real operations."""

import asyncio
import json
import re
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from temporalio.client import WorkflowFailureError

from activities import registry
from standby import client as temporal
from standby import lifecycle, report
from standby.cli import main
from standby.contracts import names
from standby.contracts.operations import AppOutcome, Approval, OperationResult, Progress, StepRecord
from standby.contracts.pairs import FailoverEvidence
from standby.contracts.sites import RecoveryPoint, Target
from standby.loader import load
from tests.conftest import serving
from tests.helpers import eventually_async
from tests.ops_helpers import request, settings_for, start_protect, stop_workflows
from workflows.operations import OPERATIONS

SHOP = Path(__file__).resolve().parent.parent / "runbooks" / "shop.yaml"
T0 = datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def step(name: str, start: float, end: float | None, status: str = "done", group: str | None = None,
         app: str | None = None, detail: str = "", output: str = "", prompt: str | None = None) -> StepRecord:
    return StepRecord(name=name, started=at(start), ended=None if end is None else at(end), status=status,
                      group=group, app=app, detail=detail, output=output, prompt=prompt)


STEPS = [
    step("precondition: replication primary -> dr", 0, 2),
    step("approval", 2, 20, detail="approved by alice: storage ok"),
    step('prompt (before): "Storage team: confirm the array is unlocked"', 20, 30, detail="continued by bob",
         prompt="Storage team: confirm the array is unlocked"),
    step("stop web, api on primary", 30, 34, group="services"),
    step("launch db on dr", 38, 41, group="data", app="db", detail="from point p-db"),
    step("hook post_launch:db: fix <disks>", 41, 43, group="data", app="db",
         output="fixed\n<script>alert('x')</script>\n"),
    step("health db/db1", 43, 45, group="data", app="db"),
    step("move db.shop.internal to dr", 45, 46, group="data", app="db"),
    step("launch web on dr", 46, 50, group="services", app="web"),
    step("health web/web1", 50, 130, status="failed", group="services", app="web",
         detail="http://127.0.0.1:18200/health: connection refused"),
]


def outcome(app: str, group: str, point: float, started: float, healthy: float | None,
            moved: float | None = None) -> AppOutcome:
    target = Target(key="k", machine=f"{app}1", app=app, site="dr", mode="recovery", target_id=f"dr/{app}1",
                    address="127.0.0.1", port=18200)
    return AppOutcome(app=app, group=group, site="dr", targets=[target],
                      point=RecoveryPoint(id=f"p-{app}", time=at(point)), started=at(started),
                      healthy=None if healthy is None else at(healthy),
                      identity_moved=None if moved is None else at(moved))


def result() -> OperationResult:
    """db: launched at 38 s from a point 12 s old, healthy at 45 s; web: launched at 46 s, never healthy."""
    apps = [outcome("db", "data", 26, 36, 45, 46), outcome("web", "services", 16, 46, None)]
    return OperationResult(runbook="shop", operation="failover", state="failed_over", from_site="primary",
                           to_site="dr", apps=apps, steps=STEPS, error="hook failed: <b>bold</b> reason",
                           approvals=[Approval(by="alice", comment="storage ok", at=at(20))])


INFO = report.WorkflowInfo(workflow_id="standby/shop/failover", run_id="run-1", started=at(0), ended=at(130),
                           url="http://localhost:8233/namespaces/default/workflows/standby%2Fshop%2Ffailover/run-1")


def made(measurements: report.Measurements | None = None, runbook=True) -> report.Report:
    return report.build(result(), INFO, load(SHOP) if runbook else None, measurements)


def svg_of(html: str) -> ET.Element:
    return ET.fromstring(re.search(r"<svg.*?</svg>", html, re.S).group(0))


def bars(html: str) -> list[ET.Element]:
    return [r for r in svg_of(html).iter(f"{SVG}rect") if r.get("class") == "bar"]


def test_chart_has_one_bar_per_step_with_widths_proportional_to_durations():
    html = report.render(made(), "html")
    found = bars(html)
    assert len(found) == len(STEPS)
    seconds = [float(b.get("data-seconds")) for b in found]
    assert seconds == [(s.ended - s.started).total_seconds() for s in STEPS]
    scale = float(found[-1].get("width")) / seconds[-1]
    for bar, took in zip(found, seconds, strict=True):
        assert float(bar.get("width")) == pytest.approx(took * scale, abs=0.02)
    starts = [float(b.get("x")) for b in found]
    assert starts == sorted(starts) and starts[4] - starts[0] == pytest.approx(38 * scale, abs=0.02)


def test_chart_marks_the_failed_step_red_and_colours_groups_with_a_time_axis():
    html = report.render(made(), "html")
    by_status = {b.get("data-status"): b.get("fill") for b in bars(html)}
    assert by_status["failed"] == "#d62728" and by_status["done"] != "#d62728"
    fills = {b.get("data-group"): b.get("fill") for b in bars(html) if b.get("data-status") == "done"}
    assert len({fills["data"], fills["services"], fills[""]}) == 3
    labels = [t.text for t in svg_of(html).iter(f"{SVG}text") if t.get("text-anchor") == "middle"]
    assert labels[:3] == ["0s", "30s", "1m"] and "2m" in labels


def test_app_table_shows_observed_rto_and_rpo_against_the_runbook_targets():
    rows = {row.app: row for row in made().apps}
    assert rows["db"].point_age_seconds == 12 and rows["db"].rpo_target_seconds == 30 and rows["db"].rpo_met is True
    assert rows["db"].recovery_seconds == 45 and rows["db"].rto_target_seconds == 60 and rows["db"].rto_met is True
    assert rows["web"].recovery_seconds is None and rows["web"].rto_met is False  # ended and never healthy
    assert rows["web"].rpo_target_seconds is None and rows["web"].rpo_met is None  # shop.yaml gives web no rpo
    html = report.render(made(), "html")
    db = re.search(r'<tr class="app" data-app="db">.*?</tr>', html, re.S).group(0)
    assert re.search(r'class="num rpo">12s<span class="target">target 30s</span><span class="badge ok">met', db)
    assert re.search(r'class="num rto">45s<span class="target">target 1m</span><span class="badge ok">met', db)
    assert "10:00:46" in db and "p-db" in db
    web = re.search(r'<tr class="app" data-app="web">.*?</tr>', html, re.S).group(0)
    assert re.search(r'class="num rto">—<span class="target">target 1m</span><span class="badge bad">missed', web)


def test_a_slow_app_misses_its_rto():
    late = result()
    late.apps[0].healthy = at(61)
    row = report.build(late, INFO, load(SHOP)).apps[0]
    assert row.recovery_seconds == 61 and row.rto_met is False


def test_without_the_runbook_the_report_shows_observed_values_only():
    html = report.render(made(runbook=False), "html")
    assert "12s" in html and "badge ok" not in html and "--runbook FILE" in html


def test_failing_step_and_approvals_are_shown():
    text = made()
    refused = "http://127.0.0.1:18200/health: connection refused"
    assert text.failure == report.Failure(step="health web/web1", reason=refused)
    assert [(a.kind, a.by, a.at) for a in text.answers] == [("approval", "alice", at(20)), ("prompt", "bob", at(30))]
    html = report.render(text, "html")
    assert "Failed at step “health web/web1”:</strong> http://127.0.0.1:18200/health: connection refused" in html
    assert "<strong>alice</strong>" in html and "storage ok" in html and "<strong>bob</strong>" in html


def test_hook_output_and_names_are_escaped():
    html = report.render(made(), "html")
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "fix &lt;disks&gt;" in html
    svg_of(html)  # still well-formed with the names inside it


def test_html_is_self_contained_and_links_the_temporal_ui():
    html = report.render(made(), "html")
    assert not re.search(r'<(script|link)\b|src="http|@import', html)
    assert f'href="{INFO.url}"' in html and "standby/shop/failover" in html and "primary</strong> to <strong>dr" in html


def test_measurements_are_shown_when_given():
    measured = report.Measurements(
        apps={"db": report.AppMeasurement(rto_seconds=75.5, rpo_writes_lost=0, rpo_point_age_seconds=4)},
        data_check_passed=True, data_check_detail="every acknowledged order is served", writes_acknowledged=120,
        writes_served=120)
    text = made(measured)
    assert text.apps[0].measured_rto_met is False and text.apps[0].measured_rpo_met is True
    html = report.render(text, "html")
    assert '<section class="measured">' in html and "Writes acknowledged" in html and ">120<" in html
    assert "every acknowledged order is served" in report.render(text, "md") and "every acknowledged" in html
    assert re.search(r"1m16s<span class=\"target\">target 1m</span><span class=\"badge bad\">missed", html)
    assert '<section class="measured">' not in report.render(made(), "html")


def test_markdown_has_every_section_and_escapes_table_cells():
    running = result()
    running.steps = [*STEPS, step("hook after: say a|b", 130, 131, output="```\nfenced\n")]
    text = report.render(report.build(running, INFO, load(SHOP)), "md")
    assert text.startswith("# Failover of shop: failed_over\n")
    assert ("| db | data | dr | p-db (2026-03-01 10:00:26 UTC) | 12s / target 30s (met) | 45s / target 1m (met) |"
            in text)
    assert '> **Failed at step "health web/web1":** http://127.0.0.1:18200/health: connection refused' in text
    assert "| approval | failover of shop | alice | 2026-03-01 10:00:20 UTC | storage ok |" in text
    assert "| 11 | hook after: say a\\|b |" in text
    assert "````text\n```\nfenced\n````" in text


def evidence(confirmed: float | None) -> FailoverEvidence:
    """dr lost primary, heard last at 0.25 s: detected at 3.5 s, the takeover allowed from 6 s, requested at 6.1 s."""
    return FailoverEvidence(pair="shop", lost="primary", by="dr", mode="managed", apps=["db", "api"], missed=3,
                            interval_seconds=1, last_heard=at(0.25), witnesses={"10.0.0.1:53": True, "w2:80": False},
                            detected=at(3.5), lease_ends=at(5), takeover_at=at(6),
                            confirmed=None if confirmed is None else at(confirmed), requested=at(6.1),
                            requested_by="alice")


def test_the_monitor_s_decision_is_shown_in_figures_in_markdown_and_html():
    decided = result().model_copy(update={"evidence": [evidence(6)]})
    md, html = (report.render(report.build(decided, INFO), fmt) for fmt in ("md", "html"))
    for text in (md, html):
        assert "pair shop: dr lost primary; managed failover of db, api, requested by alice" in text
        assert "3 missed (every 1s); last heard 10:00:00.250 UTC, 3.2s before the detection" in text
        assert "1/2 reached (10.0.0.1:53 reached, w2:80 NOT reached)" in text
        assert "10:00:03.500 UTC by dr" in text
        assert "10:00:06.000 UTC, 2.5s after the detection: alerted, an operator to fail over" in text
        assert "10:00:06.100 UTC by alice (100ms after the confirmation)" in text
    assert "| Loss detected | 10:00:03.500 UTC by dr |" in md


def test_a_failover_requested_before_the_loss_was_confirmed_says_so():
    early = result().model_copy(update={"evidence": [evidence(None)]})
    md = report.render(report.build(early, INFO), "md")
    assert "| Loss confirmed | not yet when requested (the takeover time was 10:00:06.000 UTC) |" in md
    assert "by alice (2.6s after the detection)" in md
    assert "Decision of the protect monitor" not in report.render(made(), "md")


def test_json_is_the_report_model():
    measured = report.Measurements(data_check_passed=False, writes_acknowledged=3, writes_served=2)
    text = report.render(made(measured), "json")
    back = report.Report.model_validate_json(text)
    assert back == made(measured).model_copy(update={"generated": back.generated})
    data = json.loads(text)
    assert data["apps"][0]["rpo_met"] is True and data["measurements"]["data_check_passed"] is False


def test_two_hundred_steps_stay_readable():
    steps = [step(f"health app{i}/machine{i} with a rather long name to shorten here", i, i + 1 + i % 7,
                  group=f"g{i // 50}", app=f"app{i}") for i in range(199)]
    steps.append(step("launch the last one", 150, None, status="running", group="g3"))
    live = Progress(runbook="big", operation="drill", state="running", steps=steps)
    info = report.WorkflowInfo(workflow_id="standby/big/drill", status="running", started=at(0))
    html = report.render(report.build(live, info, now=at(210)), "html")
    found = bars(html)
    assert len(found) == 200
    running = next(b for b in found if b.get("data-status") == "running")
    assert float(running.get("width")) == pytest.approx(float(found[0].get("width")) * 60, rel=0.01)  # up to `now`
    rows = {float(b.get("y")) for b in found}
    assert len(rows) == 200 and max(rows) - min(rows) == 199 * 14
    labels = [t.text for t in svg_of(html).iter(f"{SVG}text") if t.get("class") == "label"]
    assert all(len(label) <= 56 for label in labels) and labels[0].endswith("…")


def test_progress_of_a_failed_operation_derives_apps_and_state():
    progress = Progress(runbook="shop", operation="failover", state="running", apps={"db": "recovered"},
                        steps=STEPS, approvals=[Approval(by="alice", at=at(20))])
    info = report.WorkflowInfo(workflow_id="standby/shop/failover", status="failed", started=at(0), ended=at(131),
                               error="health check of web failed")
    text = report.build(progress, info, load(SHOP))
    assert (text.state, text.from_site, text.to_site) == ("failed", "primary", "dr")
    rows = {row.app: row for row in text.apps}
    assert rows["db"].healthy == at(45) and rows["db"].rto_met is True and rows["db"].identity_moved == at(46)
    assert rows["web"].healthy is None and rows["web"].rto_met is False
    assert text.failure.step == "health web/web1" and text.error == "health check of web failed"


def test_report_refuses_bad_measurements_in_one_line(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text('{"writes_acknowledged": 3}')
    outcome = CliRunner().invoke(main, ["report", "shop/failover", "--measurements", str(bad)])
    assert outcome.exit_code == 1
    assert outcome.output.strip().splitlines() == [f"cannot report: {bad}: data_check_passed: Field required"]


# --- `standby report` on real operations -----------------------------------------------------------------


def own_runbook(shop_file: Path) -> Path:
    """The shop under a name of its own, so its workflow IDs never meet another test's."""
    name = f"shop-{uuid.uuid4().hex[:8]}"
    shop_file.write_text(shop_file.read_text().replace("runbook: shop\n", f"runbook: {name}\n"))
    return shop_file


async def standby(client, *args: str):
    """`standby ARGS` in-process, on a thread so that the worker on this loop keeps running."""
    env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host, "STANDBY_TASK_QUEUE": "irrelevant"}
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


async def test_report_of_a_real_failover(client, worker, task_queue, shop_file, state_dir, tmp_path):
    runbook = load(own_runbook(shop_file))
    owner = await start_protect(client, runbook, task_queue)
    try:
        drill = await request(client, runbook, task_queue, "drill", yes=True, keep_for=timedelta(seconds=1))
        assert (await drill.result()).state == "passed"
        failover = await request(client, runbook, task_queue, "failover", yes=True)

        async def prompted():
            return (await failover.query("progress", result_type=Progress)).prompt

        await eventually_async(prompted, timeout=60)
        await failover.execute_update("continue", "tester", result_type=str)
        assert (await failover.result()).state == "failed_over"
    finally:
        await stop_workflows(owner)
    out = tmp_path / "out.html"
    ran = await standby(client, "report", f"standby/{runbook.runbook}/failover", "--runbook", str(shop_file),
                        "-o", str(out))
    assert ran.exit_code == 0, ran.output
    assert ran.output.strip() == str(out)
    html = out.read_text()
    assert len(bars(html)) >= 10 and "Failover of " + runbook.runbook in html
    for app in ("db", "api", "web"):
        assert f'<tr class="app" data-app="{app}">' in html
    # Each objective gets its verdict; which one depends on how fast this machine ran the failover.
    verdicts = html.count('<span class="badge ok">met</span>') + html.count('<span class="badge bad">missed</span>')
    assert verdicts >= 4 and "badge bad\">lost" not in html
    assert "Storage team: confirm the array is unlocked" in html and "<strong>tester</strong>" in html
    assert "db launched from" in html  # the post_launch hook's output

    async def latest():
        ran = await standby(client, "report", runbook.runbook, "--format", "md")
        return ran.output if ran.exit_code == 0 and ran.output.startswith("# Failover of") else None

    assert "| db | data | dr |" in await eventually_async(latest, timeout=20)


async def test_report_of_a_failed_operation_needs_a_worker_for_its_progress(client, task_queue, shop_file, state_dir):
    runbook = load(own_runbook(shop_file))
    ident = f"standby/{runbook.runbook}/failover"
    # The owner takes the apps for protected, but nothing replicates them: the replication precondition fails.
    owner = await temporal.start_owner(client, settings_for(task_queue), runbook, lifecycle.protected(runbook))
    try:
        async with serving(client, task_queue, registry.build(state_dir)):
            failover = await request(client, runbook, task_queue, "failover", yes=True)
            with pytest.raises(WorkflowFailureError):
                await failover.result()
            ran = await standby(client, "report", ident, "--format", "md")
            assert ran.exit_code == 0, ran.output
            assert "# Failover of " + runbook.runbook + ": failed" in ran.output
            assert ('> **Failed at step "precondition: replication primary -> dr is continuous or stalled":** '
                    'PreconditionFailed') in ran.output
        ran = await standby(client, "report", ident, "--wait", "1")
        assert ran.exit_code == 1
        assert ran.output.startswith(f"cannot report: {ident} is failed and no worker answered its progress query")
        assert "python worker.py" in ran.output and len(ran.output.strip().splitlines()) == 1
    finally:
        await stop_workflows(owner)


def test_report_knows_every_operation_workflow_type():
    assert {op: cls.__temporal_workflow_definition.name for op, cls in OPERATIONS.items()} == names.OPERATION_WORKFLOWS


async def test_report_names_what_it_cannot_find(client):
    ran = await standby(client, "report", "no-such-runbook/failover")
    assert ran.exit_code == 1 and ran.output.strip() == ("cannot report: no workflow standby/no-such-runbook/failover; "
                                                         "list operations with `standby status`")
    ran = await standby(client, "report", "no-such-runbook")
    assert ran.exit_code == 1 and "no operation of runbook 'no-such-runbook' found" in ran.output
