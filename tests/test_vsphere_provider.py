"""The vsphere provider against vcsim: recovery points, launches, drills, power, identity of VMs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pyVmomi import vim

from activities.sites.base import PermanentProviderError
from activities.sites.vsphere.inventory import tags
from activities.sites.vsphere.provider import VsphereSiteProvider
from activities.sites.vsphere.targets import clone_name
from standby.contracts.sites import (
    AppInput,
    AppRef,
    DirectionInput,
    LaunchInput,
    MachineRef,
    PointsInput,
    ReplicationInput,
    SiteRef,
    TerminateInput,
)
from standby.runbook import App, Machine, RecoveryPoints, VsphereSite
from tests.vcsim_fixture import Vcsim, all_snapshots, network_of, standby_snapshots
from tests.vcsim_fixture import wait as vcsim_wait

pytestmark = pytest.mark.usefixtures("vsphere_env")


def site(vcsim: Vcsim, dc: str, name: str = "dr", **extra) -> SiteRef:
    return SiteRef(runbook="erp", name=name, config=VsphereSite(**vcsim.site(dc, **extra)))


def machine(name: str, index: int = 0, **config) -> MachineRef:
    return MachineRef(name=name, index=index, config=Machine(**config))


def app(name: str, *machines: MachineRef, stop_timeout: str = "2s") -> AppRef:
    return AppRef(name=name, config=App(machines=[m.name for m in machines], stop_timeout=stop_timeout),
                  machines=list(machines))


@pytest.fixture
def dr(vcsim: Vcsim) -> str:
    """A datacenter of this test's own with a production and an isolated port group."""
    dc = vcsim.datacenter()
    for portgroup in ("erp-prod-hq", "erp-prod-dr", "dr-bubble"):
        vcsim.add_portgroup(dc, portgroup)
    return dc


def replication(vcsim: Vcsim, dc: str, machines: list[MachineRef], seconds: float = 0, **extra) -> ReplicationInput:
    return ReplicationInput(source=site(vcsim, "DC0", "hq"), target=site(vcsim, dc, **extra), machines=machines,
                            seconds=seconds, retention=extra.pop("retention", RecoveryPoints()))


async def test_points_are_taken_on_schedule_listed_and_pruned_by_retention(vcsim: Vcsim, dr: str) -> None:
    replica = vcsim.create_vm(dr, "erp-db-01", "erp-prod-hq")
    db = machine("erp-db-01", source_id="erp-db-01")
    provider = VsphereSiteProvider(site(vcsim, dr, snapshot_interval="1h"))
    inp = replication(vcsim, dr, [db], seconds=0.2)

    assert [s.phase for s in await provider.replication(inp)] == ["creating_first_point"]
    first = await provider.replicate(inp)
    assert first[0].phase == "continuous" and first[0].points == 1
    again = await provider.replicate(inp)  # the next one is not due for an hour
    assert again[0].points == 1 and again[0].latest_point == first[0].latest_point

    # an administrator's own snapshot is never listed, reverted to nor pruned
    vcsim_wait(replica.CreateSnapshot_Task(name="before patching", memory=False, quiesce=False))
    drained = await provider.replicate(inp.model_copy(update={"seconds": 0}))  # a drain takes one now...
    assert drained[0].latest_point > first[0].latest_point
    # ...and retention keeps one point per 10 minutes: the older one of this bucket is pruned
    listed = await provider.recovery_points(PointsInput(source=inp.source, target=inp.target, machine=db))
    assert [p.id for p in listed] == standby_snapshots(replica) and len(listed) == 1
    assert listed[0].time == drained[0].latest_point
    assert "before patching" in all_snapshots(replica)

    later = VsphereSiteProvider(site(vcsim, dr, snapshot_interval="1h"),
                                clock=lambda: datetime.now(UTC) + timedelta(hours=3))
    stalled = await later.replication(inp)
    assert stalled[0].phase == "stalled" and "due every 3600s" in stalled[0].detail


async def test_machines_are_found_by_name_instance_uuid_or_moid(vcsim: Vcsim, dr: str) -> None:
    # A name no other test of the session gives a VM: vcsim derives instance UUIDs from names, and with a twin in
    # another datacenter its FindByUuid(datacenter=...) finds one or none at random.
    vm = vcsim.create_vm(dr, "erp-find-01", "erp-prod-hq")
    provider = VsphereSiteProvider(site(vcsim, dr))
    for ident in ("erp-find-01", vm.config.instanceUuid, vm._moId):
        found = await provider.vc.find_vm(ident)
        assert found is not None and found._moId == vm._moId, ident
    by_site = machine("app", at={"dr": {"vm": vm._moId}}, source_id="elsewhere")
    assert provider.vc.vm_of(by_site) == vm._moId
    assert await provider.vc.find_vm("no-such-vm") is None

    with pytest.raises(PermanentProviderError,
                       match=r"VM no-such-vm not found.*\[site=dr, vcenter=127.0.0.1:\d+, vm=no-such-vm\]"):
        await provider.recovery_points(PointsInput(source=site(vcsim, "DC0", "hq"), target=site(vcsim, dr),
                                                   machine=machine("x", source_id="no-such-vm")))


async def test_recovery_reverts_re_addresses_remaps_and_is_idempotent(vcsim: Vcsim, dr: str) -> None:
    replica = vcsim.create_vm(dr, "erp-db-01", "erp-prod-hq")
    db = machine("erp-db-01", source_id="erp-db-01",
                 at={"dr": {"ip": {"address": "10.20.1.10", "prefix": 24, "gateway": "10.20.1.1"}}})
    dr_site = site(vcsim, dr, networks={"erp-prod-hq": "erp-prod-dr"})
    provider = VsphereSiteProvider(dr_site)
    await provider.replicate(replication(vcsim, dr, [db]))
    point = (await provider.recovery_points(PointsInput(source=dr_site, target=dr_site, machine=db)))[-1]
    inp = LaunchInput(key="standby/erp/failover/run-1", site=dr_site, source=site(vcsim, "DC0", "hq"),
                      app=app("db", db), machine=db, mode="recovery", point=point)

    target = await provider.launch(inp)
    assert target.launched and target.target_id == "erp-db-01" and target.address == "10.20.1.10"
    assert replica.runtime.powerState == "poweredOn"
    assert network_of(replica) == ["erp-prod-dr"]
    assert replica.guest.ipAddress == "10.20.1.10"
    assert tags(replica.config.extraConfig)["key"] == inp.key

    again = await provider.launch(inp)  # a retry finds its own launch
    assert not again.launched and again.target_id == target.target_id

    with pytest.raises(PermanentProviderError, match="poweredOn at dr: recovering it would revert a running VM"):
        await provider.launch(inp.model_copy(update={"key": "standby/erp/failover/run-2"}))

    removed = await provider.terminate(TerminateInput(site=dr_site, key=inp.key))
    assert removed == ["erp-db-01"] and replica.runtime.powerState == "poweredOff"
    assert "key" not in tags(replica.config.extraConfig)


async def test_drill_clones_the_point_onto_the_isolated_port_group_and_cleans_up(vcsim: Vcsim, dr: str) -> None:
    replica = vcsim.create_vm(dr, "erp-web-01", "erp-prod-hq")
    web = machine("erp-web-01", source_id="erp-web-01")
    dr_site = site(vcsim, dr, isolated_network="dr-bubble", datastore="LocalDS_1")
    provider = VsphereSiteProvider(dr_site)
    await provider.replicate(replication(vcsim, dr, [web]))
    point = (await provider.recovery_points(PointsInput(source=dr_site, target=dr_site, machine=web)))[-1]
    key = "standby/erp/drill/run-1"
    inp = LaunchInput(key=key, site=dr_site, source=site(vcsim, "DC0", "hq"), app=app("web", web), machine=web,
                      mode="test", point=point)

    target = await provider.launch(inp)
    clone = vcsim.find(dr, vim.VirtualMachine, clone_name("erp-web-01", key))
    assert target.launched and target.target_id == clone.name and target.mode == "test"
    assert clone.runtime.powerState == "poweredOn" and network_of(clone) == ["dr-bubble"]
    assert [d.name for d in clone.datastore] == ["LocalDS_1"]
    assert replica.runtime.powerState == "poweredOff" and network_of(replica) == ["erp-prod-hq"]
    assert not (await provider.launch(inp)).launched

    removed = await provider.terminate(TerminateInput(site=dr_site, prefix="standby/erp/drill/"))
    assert removed == [target.target_id]
    assert vcsim.find(dr, vim.VirtualMachine, target.target_id) is None
    assert vcsim.find(dr, vim.VirtualMachine, "erp-web-01") is not None

    no_bubble = VsphereSiteProvider(site(vcsim, dr))
    with pytest.raises(PermanentProviderError, match="no isolated_network"):
        await no_bubble.launch(inp.model_copy(update={"site": site(vcsim, dr)}))


async def test_start_stop_and_direction(vcsim: Vcsim, dr: str) -> None:
    running = vcsim.create_vm(dr, "erp-app-01", "erp-prod-hq", power_on=True)
    stopped = vcsim.create_vm(dr, "erp-app-02", "erp-prod-hq")
    suspended = vcsim.create_vm(dr, "erp-app-03", "erp-prod-hq", power_on=True)
    suspended.SuspendVM_Task()
    machines = [machine("erp-app-01", 0, source_id="erp-app-01"), machine("erp-app-02", 1, source_id="erp-app-02"),
                machine("erp-app-03", 2, source_id="erp-app-03")]
    dr_site = site(vcsim, dr)
    provider = VsphereSiteProvider(dr_site)

    result = await provider.stop_app(AppInput(site=dr_site, app=app("app", *machines)))
    assert result.outcome == {"erp-app-01": "stopped", "erp-app-02": "not running", "erp-app-03": "killed"}
    assert {vm.runtime.powerState for vm in (running, stopped, suspended)} == {"poweredOff"}

    started = await provider.start_app(AppInput(site=dr_site, app=app("app", *machines[:2])))
    assert [t.launched for t in started] == [True, True] and running.runtime.powerState == "poweredOn"
    assert not any(t.launched for t in await provider.start_app(AppInput(site=dr_site, app=app("app", *machines[:2]))))

    await provider.set_direction(DirectionInput(source=site(vcsim, "DC0", "hq"), target=dr_site, machines=machines))
    with pytest.raises(PermanentProviderError, match="no VM erp-gone at dr to replicate into"):
        await provider.set_direction(DirectionInput(source=site(vcsim, "DC0", "hq"), target=dr_site,
                                                    machines=[machine("gone", source_id="erp-gone")]))
