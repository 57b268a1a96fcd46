"""What an interrupted failover left at an AWS site, removed for the apps down only, so that the rerun launches one
recovery instance per machine. EC2 is moto's server; DRS is scripted behind a Stubber (it has no emulator), every
call checked against its service model, its launches real moto instances.
"""

import asyncio
import contextlib
import uuid
from dataclasses import replace

import pytest
import yaml
from temporalio.client import WorkflowFailureError

from activities import registry
from activities.sites.aws import PROVIDER as AWS
from activities.sites.aws import drs
from activities.sites.base import PermanentProviderError
from activities.sites.registry import Providers
from standby import client as temporal
from standby import lifecycle
from standby.contracts.sites import TerminateInput
from standby.loader import load
from tests.aws_support import REGIONS, Backends, moto
from tests.conftest import serving
from tests.ops_helpers import finished, owner_status, request, settings_for, stop_workflows
from tests.test_aws_provider import DR, IDS, launch_input, machine

FIRST, RERUN = "standby/aws-shop/failover/run-1", "standby/aws-shop/failover/run-2"


@pytest.fixture
def backends(aws) -> Backends:
    """Three source servers at dr sharing one launch template."""
    made = Backends(aws)
    template = made.template(REGIONS[1], "drs-shared")
    for ident in IDS[:3]:
        made.world.add_server(REGIONS[1], ident, template=template)
    yield made
    assert made.problems() == [], "requests or answers outside the DRS service model"


def live(backends: Backends, servers: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Each machine's live instances at dr, by the source server DRS launched it from (untagged ones too)."""
    names = {server: machine for machine, server in (servers or {f"m{i}": s for i, s in enumerate(IDS)}).items()}
    alive = {i["InstanceId"] for r in moto(backends.url, "ec2", REGIONS[1]).describe_instances(Filters=[
        {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"] for i in r["Instances"]}
    found: dict[str, list[str]] = {}
    for ident, item in backends.world.instances.items():
        if ident in alive:
            found.setdefault(names[item["sourceServerID"]], []).append(ident)
    return found


async def test_a_rerun_after_a_failed_launch_clears_the_apps_down_and_launches_each_machine_once(backends):
    """m0 (app a) recovered; the batch of m1 and m2 (app b) failed on m2 after DRS had launched m1, whose instance
    no launch got to tag. The removal for b finds m1's through its job and leaves a's alone; the rerun then launches
    m1 and m2 once each."""
    provider = backends.provider(DR)
    kept = await provider.launch(launch_input(machine(0), key=FIRST, mode="recovery"))
    backends.world.fail_launch[IDS[2]] = "InsufficientInstanceCapacity: no m6i.large in eu-west-1a"
    with pytest.raises(PermanentProviderError, match="launch of m2 failed"):
        await provider.launch_batch([launch_input(machine(i), key=FIRST, mode="recovery") for i in (1, 2)])
    stranded = live(backends)["m1"]
    assert drs.MACHINE not in {t["Key"] for t in moto(backends.url, "ec2", REGIONS[1]).describe_instances(
        InstanceIds=stranded)["Reservations"][0]["Instances"][0].get("Tags", [])}, "the failed batch tagged nothing"

    inp = TerminateInput(site=DR, prefix="standby/aws-shop/failover/", recovery=True, apps=["b"],
                         machines=[machine(1), machine(2)])
    assert await provider.terminate(inp) == stranded
    assert live(backends) == {"m0": [kept.target_id]}, "app a's instance stays"
    assert await provider.terminate(inp) == [], "nothing left to remove"

    del backends.world.fail_launch[IDS[2]]
    again = await provider.launch_batch([launch_input(machine(i), key=RERUN, mode="recovery") for i in (1, 2)])
    assert live(backends) == {"m0": [kept.target_id], "m1": [again[0].target_id], "m2": [again[1].target_id]}


async def test_a_removal_of_some_apps_keeps_to_their_tagged_instances(backends):
    """Instances every launch tagged: only those of the machines named go, drill or recovery alike."""
    provider = backends.provider(DR)
    recovered = [await provider.launch(launch_input(machine(i), key=FIRST, mode="recovery")) for i in range(3)]
    inp = TerminateInput(site=DR, prefix="standby/aws-shop/failover/", recovery=True, apps=["b"],
                         machines=[machine(1)])
    assert await provider.terminate(inp) == [recovered[1].target_id]
    assert live(backends) == {"m0": [recovered[0].target_id], "m2": [recovered[2].target_id]}
    everything = TerminateInput(site=DR, prefix="standby/aws-shop/failover/", recovery=True)
    assert sorted(await provider.terminate(everything)) == sorted([recovered[0].target_id, recovered[2].target_id])


SERVERS = {"db1": "s-1234567890abcdef0", "app1": "s-1234567890abcdef1", "app2": "s-1234567890abcdef2"}


ONE_GROUP = [{"name": "shop", "apps": ["db", "api"]}]
TWO_GROUPS = [{"name": "data", "apps": ["db"]}, {"name": "services", "apps": ["api"]}]


def runbook_file(tmp, health_port: int, groups: list[dict] = ONE_GROUP):
    """db (db1) and api (app1, app2), in one group launched together unless `groups` says otherwise, replicated from
    eu-central-1 into eu-west-1."""
    name = f"aws-rerun-{uuid.uuid4().hex[:6]}"
    health = [{"tcp": {"host": "127.0.0.1", "port": health_port}}]
    document = {
        "runbook": name,
        "sites": {"source": {"provider": "aws", "region": REGIONS[0]}, "dr": {"provider": "aws", "region": REGIONS[1]}},
        "protection": {"source": "source", "target": "dr"},
        "machines": {machine: {"source_id": server} for machine, server in SERVERS.items()},
        "apps": {"db": {"machines": ["db1"], "health": health},
                 "api": {"machines": ["app1", "app2"], "health": health}},
        "groups": groups,
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load(path)


@contextlib.asynccontextmanager
async def failing_app2(client, task_queue, aws, tmp_path, state_dir, groups: list[dict]):
    """The AWS world with app2's launch failing, the runbook protected at its owner, and workers serving it."""
    backends = Backends(aws)
    template = backends.template(REGIONS[1], "drs-shared")
    for server in SERVERS.values():
        backends.world.add_server(REGIONS[1], server, template=template)
    backends.world.fail_launch[SERVERS["app2"]] = "InsufficientInstanceCapacity: no t3.micro in eu-west-1a"
    health = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    runbook = runbook_file(tmp_path, health.sockets[0].getsockname()[1], groups)
    activities = registry.build(state_dir, Providers(state_dir, [
        replace(AWS, factory=lambda ref, _: backends.provider(ref, poll=0.05))]))
    owner = await temporal.start_owner(client, settings_for(task_queue), runbook, lifecycle.protected(runbook))
    try:
        async with serving(client, task_queue, activities, sites=["source", "dr"]):
            yield backends, runbook
    finally:
        await stop_workflows(owner)
        health.close()


async def test_a_failed_failover_rerun_through_the_owner_ends_with_one_instance_per_machine(
        client, task_queue, aws, tmp_path, state_dir):
    """The failover's launch fails on app2 after DRS launched db1 and app1, which no launch got to tag; the rerun
    (the same workflow ID, a new run) removes them through their launch job and launches each machine once."""
    async with failing_app2(client, task_queue, aws, tmp_path, state_dir, ONE_GROUP) as (backends, runbook):
        with pytest.raises(WorkflowFailureError):
            await finished(await request(client, runbook, task_queue, "failover", yes=True, force=True), 90)
        assert sorted(live(backends, SERVERS)) == ["app1", "db1"], "launched before app2's launch failed"
        del backends.world.fail_launch[SERVERS["app2"]]
        rerun = await finished(await request(client, runbook, task_queue, "failover", yes=True, force=True), 90)
    assert rerun.state == "failed_over", rerun.error
    removal = next(s for s in rerun.steps if s.name.startswith("remove what an interrupted run left"))
    assert (removal.name, removal.detail) == ("remove what an interrupted run left of db, api on dr", "2 removed")
    assert {machine: len(ids) for machine, ids in live(backends, SERVERS).items()} == {"db1": 1, "app1": 1, "app2": 1}


async def test_a_failover_rerun_keeps_db_that_group_data_recovered_and_launches_each_machine_once(
        client, task_queue, aws, tmp_path, state_dir):
    """Group data recovered db (its instance serves at dr, its state `interrupted` at dr); group services failed on
    app2 after DRS launched app1. The rerun keeps db's instance and launches no second one: it removes app1's
    stranded instance and launches app1 and app2 once each."""
    async with failing_app2(client, task_queue, aws, tmp_path, state_dir, TWO_GROUPS) as (backends, runbook):
        with pytest.raises(WorkflowFailureError):
            await finished(await request(client, runbook, task_queue, "failover", yes=True, force=True), 90)
        db = live(backends, SERVERS)["db1"]
        assert sorted(live(backends, SERVERS)) == ["app1", "db1"] and len(db) == 1
        assert (await owner_status(client, runbook)).truth.apps["db"].serving == "dr"
        del backends.world.fail_launch[SERVERS["app2"]]
        rerun = await finished(await request(client, runbook, task_queue, "failover", yes=True, force=True), 90)
        apps = (await owner_status(client, runbook)).truth.apps
    assert rerun.state == "failed_over", rerun.error
    assert live(backends, SERVERS)["db1"] == db, "db's instance of the first run serves on, the only one of db1"
    assert {machine: len(ids) for machine, ids in live(backends, SERVERS).items()} == {"db1": 1, "app1": 1, "app2": 1}
    names = [step.name for step in rerun.steps]
    assert "keep db serving at dr: the interrupted run recovered it there" in names
    assert "remove what an interrupted run left of api on dr" in names
    assert sorted(a.app for a in rerun.apps) == ["api"]
    assert {app: (s.phase, s.serving) for app, s in apps.items()} == {"db": ("failed_over", "dr"),
                                                                     "api": ("failed_over", "dr")}
