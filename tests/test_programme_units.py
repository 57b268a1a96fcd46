"""The DR programme's pure parts: retention rules per point, schedule specs, on_alert hooks, compliance, its chart."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from standby import schedules
from standby.contracts.operations import AppOutcome, OperationResult
from standby.contracts.programme import MachinePoints
from standby.contracts.protect import OwnerStatus
from standby.contracts.sites import MachineReplication, RecoveryPoint, Target
from standby.contracts.state import DrillRecord, RunbookTruth
from standby.lifecycle import initial
from standby.loader import check, load
from standby.points import annotate, rule_text
from standby.report import render_compliance
from standby.report.compliance import ComplianceReport, Fetched, RunbookFacts, runbook_compliance
from standby.report.compliance_chart import BAD, OK, grid
from standby.report.model import WorkflowInfo
from standby.retention import RetentionPolicy, keeping_rules

NOW = datetime(2026, 11, 22, 12, 3, 0, tzinfo=UTC)
SHOP = Path(__file__).resolve().parent.parent / "runbooks" / "shop.yaml"


def test_each_point_is_named_with_every_rule_that_keeps_it() -> None:
    points = [NOW - timedelta(minutes=1), NOW - timedelta(minutes=3), NOW - timedelta(minutes=25),
              NOW - timedelta(hours=3), NOW - timedelta(days=2), NOW - timedelta(days=40)]
    rules = keeping_rules(points, NOW, RetentionPolicy())
    assert rules == {points[0]: ["newest", "10-minute", "hourly", "daily"], points[1]: [],
                     points[2]: ["10-minute", "hourly"], points[3]: ["hourly"], points[4]: ["daily"], points[5]: []}
    journal = keeping_rules(points, NOW, RetentionPolicy(every_pass_for=timedelta(minutes=5)))
    assert journal[points[1]] == ["every pass"] and journal[points[0]][:2] == ["newest", "every pass"]


def test_points_report_ages_points_and_says_which_go_at_the_next_pass() -> None:
    runbook = load(SHOP)
    listed = [MachinePoints(app="db", machine="db1", site="dr", points=[
        RecoveryPoint(id="old", time=NOW - timedelta(minutes=2)), RecoveryPoint(id="new", time=NOW)])]
    report = annotate(runbook, listed, NOW)
    rows = report.machines[0].points
    assert [(p.id, p.age_seconds, p.kept_by) for p in rows] == [("old", 120.0, []),
                                                               ("new", 0.0, ["newest", "10-minute", "hourly", "daily"])]
    assert rule_text(rows[1].kept_by, report.retention) == ("newest, 10-minute (for 1h), hourly (for 1d), "
                                                            "daily (for 30d)")
    assert rule_text(rows[0].kept_by, report.retention) == "none: pruned at the next pass"


def test_a_schedule_runs_at_its_time_of_day_only_for_whole_days() -> None:
    assert schedules.parse_at("02:30") == timedelta(hours=2, minutes=30)
    interval = schedules.spec(timedelta(days=7), timedelta(hours=2)).intervals[0]
    assert (interval.every, interval.offset) == (timedelta(days=7), timedelta(hours=2))
    with pytest.raises(schedules.ScheduleError, match="--at needs --every in whole days"):
        schedules.spec(timedelta(hours=12), timedelta(hours=2))
    with pytest.raises(schedules.ScheduleError, match="write HH:MM in UTC"):
        schedules.parse_at("2am")
    with pytest.raises(schedules.ScheduleError, match="too short"):
        schedules.spec(timedelta(milliseconds=500))


def _with_hooks(tmp_path: Path, hooks: list[dict]) -> Path:
    document = yaml.safe_load(SHOP.read_text())
    document["hooks"] = hooks
    path = tmp_path / "alerting.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_on_alert_hooks_run_commands_with_the_alert_in_their_templates(tmp_path: Path) -> None:
    good = _with_hooks(tmp_path, [{"at": "on_alert", "run": ["notify", "{{ runbook }}: {{ alert }} ({{ workflow }})"]}])
    assert check(good)[1] == []
    bad = _with_hooks(tmp_path, [{"at": "on_alert", "prompt": "look"},
                                 {"at": "on_alert", "run": ["notify", "{{ group }}"]},
                                 {"at": "before", "run": ["echo", "{{ alert }}"]}])
    issues = [f"{i.path}: {i.message}" for i in check(bad)[1]]
    assert issues == [
        "hooks[0].at: an on_alert hook runs a command when nobody is watching; write it with 'run:' "
        "(a notifier's argv), not a prompt or action",
        "hooks[1].run[1]: unknown template variable 'group'; available: alert, operation, python, runbook, workflow",
        "hooks[2].run[1]: unknown template variable 'alert'; available: app, group, mode, operation, python, "
        "recovery_point, runbook, site, target",
    ]


def _facts(name: str, drilled: timedelta, healthy_after: float, lag: float, with_failover: bool) -> RunbookFacts:
    runbook = load(SHOP).model_copy(update={"runbook": name})
    drill = DrillRecord(time=NOW - drilled, passed=True, apps=["db", "api", "web"],
                        workflow_id=f"standby/{name}/drill/0b6a3f1e-0000-4000-8000-000000000001")
    truth: RunbookTruth = initial(runbook).model_copy(update={"last_drill": drill, "last_passed_drill": drill,
                                                              "protecting": True})
    machines = [MachineReplication(machine=m, phase="continuous", lag_seconds=lag, points=5,
                                   latest_point=NOW - timedelta(seconds=2)) for m in runbook.machines]
    started = NOW - timedelta(hours=1)
    outcomes = [AppOutcome(app=a, group=runbook.group_of(a), site="dr", targets=[Target(
        key="k", machine=runbook.apps[a].machines[0], app=a, site="dr", mode="recovery", target_id="t")],
        point=RecoveryPoint(id="p", time=started - timedelta(seconds=5)), started=started,
        healthy=started + timedelta(seconds=healthy_after)) for a in runbook.apps]
    failover = Fetched(info=WorkflowInfo(workflow_id=f"standby/{name}/failover", run_id="r", started=started,
                                         ended=started + timedelta(minutes=2)),
                       data=OperationResult(runbook=name, operation="failover", state="failed_over",
                                            from_site="primary", to_site="dr", apps=outcomes))
    return RunbookFacts(runbook=runbook, status=OwnerStatus(truth=truth, machines=machines), owner_url="http://ui",
                        last_failover=failover if with_failover else None)


def test_compliance_compares_each_figure_with_its_objective() -> None:
    inside = runbook_compliance(_facts("shop-a", timedelta(days=1), 20, 1.0, with_failover=True), NOW)
    assert inside.compliant and inside.outside == []
    assert inside.drill is not None and inside.drill.age.seconds == 86400 and inside.drill.age.inside is True
    assert inside.last_failover is not None
    db = next(a for a in inside.last_failover.apps if a.app == "db")
    assert (db.rto.seconds, db.rto.objective_seconds, db.rto.inside) == (20, 60, True)
    assert (db.rpo.seconds, db.rpo.objective_seconds, db.rpo.inside) == (5, 30, True)
    assert {(m.machine, m.lag.inside, m.point_age.seconds) for m in inside.machines} == {
        ("db1", True, 2.0), ("app1", None, 2.0), ("web1", None, 2.0)}

    idle = _facts("shop-idle", timedelta(days=1), 20, 1.0, with_failover=False)
    for machine in idle.status.machines:
        machine.latest_point = NOW - timedelta(minutes=5)  # no write for 5 minutes: no newer point, nothing to lose
    db1 = next(m for m in runbook_compliance(idle, NOW).machines if m.machine == "db1")
    assert (db1.point_age.seconds, db1.point_age.inside, db1.lag.inside) == (300, True, True)

    outside = runbook_compliance(_facts("shop-b", timedelta(days=9), 90, 45.0, with_failover=True), NOW)
    assert not outside.compliant
    assert outside.outside == [
        "last drill passed 9d ago (objective: a passing drill within 7d)",
        "failover standby/shop-b/failover: db RTO 1m30s > 1m", "failover standby/shop-b/failover: api RTO 1m30s > 1m",
        "failover standby/shop-b/failover: web RTO 1m30s > 1m", "db1 (db): replication lag 45s > RPO 30s"]


def test_the_chart_shows_each_runbook_by_objective_green_inside_red_outside() -> None:
    report = ComplianceReport(generated=NOW, namespace="default", runbooks=[
        runbook_compliance(_facts("shop-a", timedelta(days=1), 20, 1.0, True), NOW),
        runbook_compliance(_facts("shop-b", timedelta(days=9), 90, 45.0, False), NOW)])
    chart = grid(report)
    a, b = chart.rows
    assert [c.colour for c in a.cells] == [OK] * 5
    assert [c.colour for c in b.cells][:1] == [BAD] and b.cells[3].colour == BAD
    assert b.cells[1].label == "—"  # shop-b has never failed over and its last drill's result is not read here
    assert a.cells[1].label == "failover db: 20s / 1m"
    assert a.cells[1].bar_width == pytest.approx(130 * 20 / 60 / 2, abs=0.01)
    html = render_compliance(report)
    assert "1 of 2 runbooks inside every objective" in html
    assert len(re.findall(r'<g class="runbook">', html)) == 2
    assert render_compliance(report, "json").count('"compliant": false') == 1


def test_metrics_ports_come_from_the_environment_and_a_bad_one_is_named(monkeypatch) -> None:
    from worker import MetricsConfig

    monkeypatch.delenv("STANDBY_METRICS_PORT", raising=False)
    assert MetricsConfig.from_env() is None
    monkeypatch.setenv("STANDBY_METRICS_PORT", "9464")
    assert MetricsConfig.from_env() == MetricsConfig("127.0.0.1", 9464, 9465)
    monkeypatch.setenv("STANDBY_SDK_METRICS_PORT", "port")
    with pytest.raises(SystemExit, match="STANDBY_SDK_METRICS_PORT='port' is not a port number"):
        MetricsConfig.from_env()
