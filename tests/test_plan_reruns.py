"""Planning a rerun of an interrupted operation: the apps the interrupted run already recovered at the target are
kept, not recovered again; the rest are stopped, cleared and recovered as before; every app's state is recorded."""

from pathlib import Path

import pytest

from standby.loader import load
from standby.plan import build
from standby.plan_steps import Drain, FailbackClient, KeepServing, RecordState, SetDirection, WaitContinuous
from standby.plan_text import lines
from standby.runbook import Runbook

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def shop() -> Runbook:
    """The local three-tier example: data [db], services [api -> db, web -> api]."""
    return load(ROOT / "runbooks" / "shop.yaml")


def recovered(plan) -> list[str]:
    return [app.app for app in plan.app_steps()]


def test_a_failover_rerun_keeps_db_serving_at_dr_and_recovers_the_apps_down(shop: Runbook) -> None:
    """The interrupted failover recovered group data (db serves at dr) and failed in group services: the rerun
    neither stops, launches nor checks db again, and still records it failed over with api and web."""
    plan = build(shop, "failover", down=["api", "web"], serving={"db": "dr"})
    assert [step.label() for step in plan.steps][4:] == [
        "stop web, api on primary in 2 waves, dependents first", "drain replication primary -> dr (if the source "
        "answered)", "pause replication primary -> dr", "remove what an interrupted run left of api, web on dr",
        "keep db serving at dr: the interrupted run recovered it there", "recover group services at dr (api, web)",
        "record state: failed_over at dr, replication paused"]
    assert recovered(plan) == ["api", "web"]
    assert [app.depends_on for app in plan.app_steps()] == [[], ["api"]], "api finds db up, it waits for nothing"
    assert next(s for s in plan.steps if isinstance(s, Drain)).apps == ["api", "web"]
    assert next(s for s in plan.steps if isinstance(s, SetDirection)).apps == ["db", "api", "web"]
    assert plan.apps == ["db", "api", "web"] and isinstance(plan.steps[-1], RecordState)
    text = lines(plan)
    kept = text.index("  9. keep db serving at dr: the interrupted run recovered it there")
    assert text[kept + 1] == ("       no stop, launch, hooks, health checks or identity move again; recorded with "
                              "the other apps at the end")


def test_an_operation_started_before_the_marker_recovers_every_app_again(shop: Runbook) -> None:
    """`keep_recovered=False` (no marker in its history): the plan it ran, db launched again."""
    before = build(shop, "failover", down=["api", "web"], serving={"db": "dr"}, keep_recovered=False)
    assert before == build(shop, "failover", down=["api", "web"])
    assert recovered(before) == ["db", "api", "web"]


def test_only_an_app_serving_at_the_target_is_kept(shop: Runbook) -> None:
    """An interrupted app still serving at the source is stopped and recovered like the rest."""
    assert build(shop, "failover", serving={"db": "primary", "api": "primary"}) == build(shop, "failover")


def test_a_kept_app_inside_a_group_lets_its_dependents_start_at_once() -> None:
    """diamond's core: config -> dns, db and cache -> config, api -> (cache, db). db kept: api waits for cache
    alone; the group's other apps recover as before."""
    diamond = load(ROOT / "tests" / "runbooks" / "valid" / "diamond.yaml")
    plan = build(diamond, "failover", serving={"db": "backup"})
    steps = {app.app: app.depends_on for app in plan.app_steps()}
    assert steps == {"dns": [], "config": [], "cache": ["config"], "api": ["cache"], "web": ["api"]}
    assert [s.apps for s in plan.steps if isinstance(s, KeepServing)] == [["db"]]
    assert "db" not in [app for wave in plan.stop_waves() for app in wave.apps]


def test_a_failback_rerun_does_not_replicate_a_kept_app_back(shop: Runbook) -> None:
    """db failed back already (it serves at primary, on data newer than its stopped copy at dr): the rerun's reverse
    replication, its wait for continuous protection and its drain leave db out; the pause and the record name it."""
    plan = build(shop, "failback", down=["api", "web"], serving={"db": "primary"})
    assert recovered(plan) == ["api", "web"]
    reverse, pause = (s for s in plan.steps if isinstance(s, SetDirection))
    assert (reverse.running, reverse.apps) == (True, ["api", "web"])
    assert next(s for s in plan.steps if isinstance(s, WaitContinuous)).apps == ["api", "web"]
    assert next(s for s in plan.steps if isinstance(s, Drain)).apps == ["api", "web"]
    assert (pause.running, pause.apps) == (False, ["db", "api", "web"])
    assert not [s for s in plan.steps if isinstance(s, FailbackClient)]
    assert [s.label() for s in plan.steps if isinstance(s, KeepServing)] == [
        "keep db serving at primary: the interrupted run recovered it there"]


def test_a_switchover_rerun_with_an_app_kept_recovers_the_rest_cold() -> None:
    """No warm copy starts beside an app that serves at the target already."""
    pair = load(ROOT / "runbooks" / "shop-pair.yaml")
    plan = build(pair, "switchover", serving={"db": "dr"})
    assert recovered(plan) == ["api", "web"] and plan.always == []
    assert "keep db serving at dr: the interrupted run recovered it there" in [s.label() for s in plan.steps]
    assert [s.label() for s in plan.steps][-2:] == ["replicate dr -> primary",
                                                    "record state: protected at dr, replication running"]


@pytest.mark.parametrize("operation", ["drill", "return"])
def test_a_drill_and_a_return_plan_as_before(shop: Runbook, operation: str) -> None:
    """A drill launches test targets beside the serving apps and leaves nothing interrupted; a return launches
    nothing: neither keeps an app out."""
    active = "dr" if operation == "drill" else None
    assert (build(shop, operation, active=active, serving={"db": "primary", "api": "dr"})
            == build(shop, operation, active=active))


def test_a_rerun_of_a_failback_interrupted_after_its_last_group_records_the_state_alone(shop: Runbook) -> None:
    """Aborted after every group recovered (during an after hook, say): every app serves at primary, so nothing is
    replicated, stopped, drained or launched; the pause and the record name every app."""
    plan = build(shop, "failback", serving=dict.fromkeys(("db", "api", "web"), "primary"))
    assert [step.label() for step in plan.steps] == [
        "approval by an operator", "pause replication dr -> primary",
        "keep db, api, web serving at primary: the interrupted run recovered them there",
        "record state: failed_back at primary, replication paused"]
