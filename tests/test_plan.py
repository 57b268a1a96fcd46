"""Pure planning: waves, group order, stop order, --only, hooks, approval, and the `plan` command."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from standby.cli import main
from standby.loader import check, load
from standby.plan import Plan, PlanError, build, select
from standby.plan_steps import Approval, Drain, RecoverGroup, RemoveTargets, RunHook, StopApps, StopWaves
from standby.plan_text import lines
from standby.runbook import OPERATIONS, CommandHook, PromptHook, Runbook

ROOT = Path(__file__).resolve().parent.parent
SHOP = ROOT / "runbooks" / "shop.yaml"
DIAMOND = ROOT / "tests" / "runbooks" / "valid" / "diamond.yaml"


@pytest.fixture(scope="module")
def shop() -> Runbook:
    """The local three-tier example: data [db], services [api -> db, web -> api]."""
    return load(SHOP)


@pytest.fixture(scope="module")
def diamond() -> Runbook:
    """infra [dns]; core [config -> dns, db and cache -> config, api -> (cache, db), web -> api]."""
    return load(DIAMOND)


def waves(plan: Plan) -> list[tuple[str, list[str]]]:
    """(group, apps) of every recovery wave, in order."""
    return [(stage.group, [app.app for app in wave.apps]) for stage in plan.stages() for wave in stage.waves]


def stops(plan: Plan) -> list[tuple[str, list[str]]]:
    """(group, apps) of every stop wave, in order."""
    return [(step.group, step.apps) for step in plan.stop_waves()]


def hook_indexes(runbook: Runbook, steps: list) -> list[int]:
    """Runbook indexes of the hooks that hook steps carry."""
    return [runbook.hooks.index(step.hook) for step in steps]


def top_hooks(plan: Plan) -> list[RunHook]:
    """The hook steps of the plan itself (before and after), in order."""
    return [step for step in plan.steps if isinstance(step, RunHook)]


def test_shop_failover_waves_follow_groups_and_dependencies(shop: Runbook) -> None:
    plan = build(shop, "failover")
    assert [stage.group for stage in plan.stages()] == ["data", "services"]
    assert waves(plan) == [("data", ["db"]), ("services", ["api"]), ("services", ["web"])]
    assert plan.apps == ["db", "api", "web"]
    assert (plan.from_site, plan.to_site, plan.mode) == ("primary", "dr", "recovery")


def test_diamond_apps_of_a_group_run_in_parallel_by_dependencies(diamond: Runbook) -> None:
    plan = build(diamond, "failover")
    assert waves(plan) == [
        ("infra", ["dns"]),
        ("core", ["config"]),
        ("core", ["cache", "db"]),
        ("core", ["api"]),
        ("core", ["web"]),
    ]


def test_dependencies_in_an_earlier_group_do_not_hold_a_wave(diamond: Runbook) -> None:
    config = build(diamond, "failover").stages()[1].waves[0].apps[0]
    assert (config.app, config.depends_on) == ("config", [])


def test_app_step_carries_machines_health_and_endpoint(diamond: Runbook) -> None:
    steps = {step.app: step for step in build(diamond, "failover").app_steps()}
    assert steps["api"].machines == ["api1", "api2"]
    assert steps["api"].depends_on == ["cache", "db"]
    assert steps["api"].health == ["http GET /health -> 200", "tcp :8080"]
    assert (steps["db"].endpoint, steps["web"].endpoint, steps["cache"].endpoint) == (
        "db.example.org",
        "www.example.org",
        None,
    )
    assert {step.group for step in steps.values()} == {"infra", "core"}


@pytest.mark.parametrize("operation", ["failover", "failback", "switchover"])
@pytest.mark.parametrize("path", [SHOP, DIAMOND], ids=["shop", "diamond"])
def test_stop_order_is_exactly_the_reverse_of_recovery(path: Path, operation: str) -> None:
    plan = build(load(path), operation)  # type: ignore[arg-type]
    assert stops(plan) == list(reversed(waves(plan)))
    assert plan.stop_waves()


def test_shop_stop_order(shop: Runbook) -> None:
    assert stops(build(shop, "failover")) == [("services", ["web"]), ("services", ["api"]), ("data", ["db"])]


@pytest.mark.parametrize("operation", ["drill", "return"])
def test_drill_and_return_stop_nothing(shop: Runbook, operation: str) -> None:
    assert build(shop, operation).stop_waves() == []  # type: ignore[arg-type]


def test_return_has_no_waves(shop: Runbook) -> None:
    plan = build(shop, "return")
    assert plan.stages() == []
    assert plan.app_steps() == []
    assert [step.label() for step in plan.steps] == [
        "replicate primary -> dr",
        "wait for continuous data protection primary -> dr",
        "record state: protected at primary, replication running",
        "remove the recovery targets of the earlier failover on dr",
    ]


def test_only_keeps_the_named_apps_in_runbook_order(diamond: Runbook) -> None:
    plan = build(diamond, "failover", only=["web", "db", "config"])
    assert plan.apps == ["web", "db", "config"]
    assert waves(plan) == [("core", ["config"]), ("core", ["db"]), ("core", ["web"])]
    assert stops(plan) == [("core", ["web"]), ("core", ["db"]), ("core", ["config"])]
    web = plan.app_steps()[-1]
    assert (web.app, web.depends_on) == ("web", ["db", "config"]), "through api and cache, which are left out"


def test_a_cycle_cannot_be_planned() -> None:
    runbook, issues = check(ROOT / "tests" / "runbooks" / "invalid" / "dependency-cycle.yaml")
    assert runbook is not None and issues
    with pytest.raises(PlanError, match="dependency cycle among a, b, c"):
        build(runbook, "failover")


def test_only_drops_groups_without_selected_apps_and_their_hooks(diamond: Runbook) -> None:
    plan = build(diamond, "failover", only=["dns"])
    assert [stage.group for stage in plan.stages()] == ["infra"]
    assert all(not stage.before and not stage.after for stage in plan.stages())


def test_only_an_unknown_app_is_named(shop: Runbook) -> None:
    with pytest.raises(PlanError) as raised:
        build(shop, "failover", only=["web", "dbb"])
    assert str(raised.value) == "unknown app(s) 'dbb' (did you mean 'db'?) in --only; the runbook has db, api, web"


def test_hooks_attach_at_their_places(diamond: Runbook) -> None:
    plan = build(diamond, "failover")
    core = plan.stages()[1]
    db = next(step for step in plan.app_steps() if step.app == "db")
    before, after = top_hooks(plan)
    stop = next(step for step in plan.steps if isinstance(step, StopWaves))
    assert hook_indexes(diamond, [before]) == [0] and plan.steps.index(before) < plan.steps.index(stop)
    assert hook_indexes(diamond, core.before) == [1]
    assert hook_indexes(diamond, core.after) == []  # after_group:core runs in drills only
    assert hook_indexes(diamond, db.pre_launch) == [3]
    assert hook_indexes(diamond, db.post_launch) == [4, 5]
    assert [type(step.hook) for step in db.post_launch] == [CommandHook, PromptHook]
    assert hook_indexes(diamond, [after]) == [6] and plan.steps[-2] is after
    assert plan.stages()[0].before == [] and all(
        not step.pre_launch and not step.post_launch for step in plan.app_steps() if step.app != "db"
    )


def test_hooks_are_filtered_by_operation(diamond: Runbook) -> None:
    plan = build(diamond, "drill")
    core = plan.stages()[1]
    db = next(step for step in plan.app_steps() if step.app == "db")
    assert hook_indexes(diamond, top_hooks(plan)) == [6]
    assert hook_indexes(diamond, core.after) == [2]
    assert hook_indexes(diamond, db.post_launch) == [4]


def test_a_hook_step_carries_its_hook_and_says_what_it_does(shop: Runbook) -> None:
    plan = build(shop, "failover")
    prompt = top_hooks(plan)[0]
    assert prompt.hook == shop.hooks[2]
    assert prompt.label() == 'prompt (before): "Storage team: confirm the array is unlocked"'
    assert plan.stages()[1].before[0].label() == (
        "command (before_group:services): {{ python }} -c print('warming cache for', '{{ group }}')"
    )
    assert top_hooks(build(shop, "switchover")) == []


def approval(plan: Plan) -> str | None:
    """Who the plan's approval step waits for, if it has one."""
    return next((step.who for step in plan.steps if isinstance(step, Approval)), None)


def test_approval_for_operations_that_move_production(shop: Runbook) -> None:
    assert approval(build(shop, "failover")) == "a member of cn=dr-operators,ou=groups,dc=example,dc=org"
    assert approval(build(shop, "failback")) == "an operator"
    assert approval(build(shop, "switchover")) == "an operator"
    assert approval(build(shop, "return")) is None


def test_drill_needs_approval_only_when_access_names_it(shop: Runbook, diamond: Runbook) -> None:
    assert "drill" not in shop.access
    assert approval(build(shop, "drill")) is None
    assert approval(build(diamond, "drill")) == "user tester"
    assert approval(build(diamond, "switchover")) == "a member of cn=ops,dc=example,dc=org or user alice or user bob"


def test_failback_goes_from_target_to_source(shop: Runbook) -> None:
    plan = build(shop, "failback")
    assert (plan.from_site, plan.to_site, plan.outcome) == ("dr", "primary", "failed_back")
    assert [step.label() for step in plan.steps[:3]] == [
        "replicate dr -> primary",
        "wait for continuous data protection dr -> primary",
        "approval by an operator",
    ]
    assert plan.steps[-1].label() == "record state: failed_back at primary, replication paused"
    assert [step.app for step in plan.app_steps()] == ["db", "api", "web"]


def test_active_site_sets_the_direction_of_failover_and_switchover(shop: Runbook) -> None:
    assert (build(shop, "failover", active="dr").from_site, build(shop, "failover", active="dr").to_site) == (
        "dr",
        "primary",
    )
    switch = build(shop, "switchover", active="dr")
    assert (switch.from_site, switch.to_site) == ("dr", "primary")


def test_drill_and_failover_shapes(shop: Runbook) -> None:
    drill, failover = build(shop, "drill"), build(shop, "failover")
    assert (drill.mode, drill.move_identity) == ("test", False)
    assert failover.move_identity is True
    assert [step.label() for step in failover.steps[:2]] == [
        "precondition: replication primary -> dr is continuous or stalled",
        "precondition: a passing drill within 7d",
    ]
    assert [step.label() for step in drill.on_failure] == ["record the drill as failed"]
    assert [step.label() for step in drill.always] == ["clean up drill targets on dr"]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_plan_round_trips_through_json(diamond: Runbook, operation: str) -> None:
    plan = build(diamond, operation)
    assert Plan.model_validate_json(plan.model_dump_json()) == plan


def run(*args: str):
    """`standby ARGS` in-process."""
    return CliRunner().invoke(main, list(args))


def test_cli_plan_failover_text() -> None:
    result = run("plan", str(SHOP), "--operation", "failover")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "failover of shop: primary -> dr (recovery mode), apps: db, api, web"
    assert lines[1] == "  1. precondition: replication primary -> dr is continuous or stalled (skip with --force)"
    assert lines[3] == "  3. approval by a member of cn=dr-operators,ou=groups,dc=example,dc=org (skip with --yes)"
    # The site's stop waves are one step (one activity), each wave listed under it, dependents first.
    stop = lines.index("  5. stop web, api, db on primary in 3 waves, dependents first")
    assert lines[stop + 1 : stop + 6] == [
        "       wave 1: stop web on primary (group services)",
        "       wave 2: stop api on primary (group services)",
        "       wave 3: stop db on primary (group data)",
        "  6. drain replication primary -> dr (if the source answered)",
        "  7. pause replication primary -> dr",
    ]
    # The dependency graph the group follows: web starts once api is healthy, not when a wave ends.
    assert "       api (at once): launch app1 at dr; health http GET /health -> 200; " \
           "move api.shop.internal to dr" in lines
    assert "       web (once api is healthy): launch web1 at dr; health http GET /health -> 200; " \
           "move www.shop.internal to dr" in lines
    assert lines[-1] == " 10. record state: failed_over at dr, replication paused"


def test_cli_plan_json_round_trips() -> None:
    result = run("plan", str(SHOP), "--operation", "failover", "--json")
    assert result.exit_code == 0, result.output
    plan = Plan.model_validate(json.loads(result.stdout))
    assert plan == build(load(SHOP), "failover")


def test_cli_plan_json_keeps_text_verbatim(tmp_path: Path) -> None:
    runbook = tmp_path / "shop.yaml"
    runbook.write_text(SHOP.read_text().replace("confirm the array is unlocked", "confirm :lock: is off"))
    result = run("plan", str(runbook), "--json")
    assert (
        top_hooks(Plan.model_validate_json(result.stdout))[0].hook.describe() == "Storage team: confirm :lock: is off"
    )


def test_cli_plan_unknown_only_app_exits_1() -> None:
    result = run("plan", str(SHOP), "--only", "dbb")
    assert result.exit_code == 1
    assert result.stderr.startswith("cannot plan: unknown app(s) 'dbb' (did you mean 'db'?) in --only")
    assert "Traceback" not in result.output


def test_cli_plan_invalid_runbook_exits_1() -> None:
    result = run("plan", str(ROOT / "tests" / "runbooks" / "invalid" / "dependency-cycle.yaml"))
    assert result.exit_code == 1
    assert "dependency cycle: a -> b -> c -> a" in result.stderr


def test_cli_plan_only_warns_of_the_dependencies_it_leaves_behind() -> None:
    result = run("plan", str(SHOP), "--only", "web")
    assert result.exit_code == 0, result.output
    assert ("warning: web depends on api, db, which --only leaves where they are; add --only api --only db to move "
            "them together") in result.stderr
    assert "warning" not in run("plan", str(SHOP), "--only", "web", "--only", "api", "--only", "db").stderr


def test_a_warm_switchover_does_before_the_stop_all_that_touches_no_live_data() -> None:
    """shop-pair opts in: warm groups, a stop of db, a drain of db alone, one cutover per group, then a stop of the
    stateless apps once their identities moved, and cleanup."""
    plan = build(load(Path("runbooks/shop-pair.yaml")), "switchover")
    assert [step.label() for step in plan.steps] == [
        "precondition: replication primary -> dr is continuous", "approval by an operator",
        "start group data warm at dr (db)", "start group services warm at dr (api, web)",
        "stop db on primary (group data)", "drain replication primary -> dr",
        "pause replication primary -> dr", "cut group data over at dr (db)", "cut group services over at dr (api, web)",
        "stop web, api on primary, in this order (groups services)", "replicate dr -> primary",
        "record state: protected at dr, replication running"]
    drain = next(step for step in plan.steps if isinstance(step, Drain))
    assert drain.apps == ["db"], "stateless apps have nothing to drain"
    assert [step.label() for step in plan.always] == ["stop what was started warm on dr and not cut over"]
    assert lines(plan)[13] == ("       db: promote db1 from the drained point; command (post_launch:db): "
                               "{{ python }} -c print('db launched from', '{{ recovery_point }}'); "
                               "health http GET /health -> 200; move db.shop.internal to dr")


def test_a_switchover_with_a_data_app_down_recovers_cold() -> None:
    """After a warm switchover aborted once db stopped, db serves nowhere: the apps started ahead would never pass
    their health, so the rerun stops, drains and recovers in dependency order, with nothing started warm."""
    plan = build(load(Path("runbooks/shop-pair.yaml")), "switchover", down=["db"])
    assert [step.label() for step in plan.steps] == [
        "precondition: replication primary -> dr is continuous", "approval by an operator",
        "stop web, api, db on primary in 3 waves, dependents first", "drain replication primary -> dr",
        "pause replication primary -> dr", "remove what an interrupted run left of db on dr",
        "recover group data at dr (db)", "recover group services at dr (api, web)",
        "replicate dr -> primary", "record state: protected at dr, replication running"]
    assert plan.always == []


def test_a_rerun_removes_what_an_interrupted_run_left_of_the_apps_down_before_launching_them() -> None:
    """An abort mid-recovery can leave db launched at dr and never recovered: its target holds db's data folder,
    where the rerun's launch would refuse to restore. Only the apps down are named; an operation that started before
    (`clear_interrupted=False`) plans as it did."""
    shop = load(SHOP)
    labels = [step.label() for step in build(shop, "failover", down=["db"]).steps]
    removal = labels.index("remove what an interrupted run left of db on dr")
    assert removal == labels.index("recover group data at dr (db)") - 1
    assert "remove what an interrupted run" not in " ".join(
        step.label() for step in build(shop, "failover", down=["db"], clear_interrupted=False).steps)
    assert "remove what an interrupted run" not in " ".join(step.label() for step in build(shop, "failover").steps)


@pytest.mark.parametrize("name", ["aws-shop", "vsphere-erp", "mixed"])
def test_a_rerun_at_a_cloud_or_vsphere_site_removes_what_an_interrupted_run_left(name: str) -> None:
    """AWS and vSphere remove only the targets of the apps named, so a rerun at their sites (and at a mixed site)
    clears the apps down before it launches them: one recovery instance per machine, a replica not left running. An
    operation that started before they did (`clear_anywhere=False`: no marker in its history) plans as it did."""
    runbook = load(ROOT / "runbooks" / f"{name}.yaml")
    first, *rest = select(runbook, None)
    plan = build(runbook, "failover", down=[first])
    removals = [step for step in plan.steps if isinstance(step, RemoveTargets)]
    assert [(r.site, r.scope, r.apps) for r in removals] == [(plan.to_site, "interrupted", [first])]
    first_group = next(step for step in plan.steps if isinstance(step, RecoverGroup))
    assert plan.steps.index(removals[0]) == plan.steps.index(first_group) - 1
    before = build(runbook, "failover", down=[first], clear_anywhere=False)
    assert not [step for step in before.steps if isinstance(step, RemoveTargets)]
    assert [step for step in plan.steps if step not in removals] == before.steps


def test_a_sites_stop_waves_are_one_step_carrying_them_in_order() -> None:
    """One step (one activity) stops the source's waves, dependents first; an operation that started before
    (`one_stop=False`, as its history has no marker) runs the same waves a step each."""
    shop = load(SHOP)
    plan, before = build(shop, "failover"), build(shop, "failover", one_stop=False)
    combined = [step for step in plan.steps if isinstance(step, StopWaves)]
    assert len(combined) == 1 and combined[0].site == "primary"
    assert [(w.group, w.apps) for w in combined[0].waves] == [("services", ["web"]), ("services", ["api"]),
                                                             ("data", ["db"])]
    assert [step for step in before.steps if isinstance(step, StopApps)] == combined[0].waves
    assert stops(plan) == stops(before)
    assert [s for s in plan.steps if s not in combined] == [s for s in before.steps if not isinstance(s, StopApps)]
