"""What an interrupted failover left at a vSphere site, removed for the apps down only, against vcsim: the rerun
recovers each replica once, where before its launch found the replica running and refused to revert it."""

from __future__ import annotations

import pytest
from pyVmomi import vim

from activities.sites.base import PermanentProviderError
from activities.sites.vsphere.inventory import tags
from activities.sites.vsphere.provider import VsphereSiteProvider
from standby.contracts.sites import LaunchInput, PointsInput, TerminateInput
from tests.test_vsphere_provider import app, machine, replication, site
from tests.vcsim_fixture import Vcsim

pytestmark = pytest.mark.usefixtures("vsphere_env")

FIRST, RERUN = "standby/erp/failover/run-1", "standby/erp/failover/run-2"


async def test_a_rerun_clears_the_apps_down_and_recovers_each_replica_once(vcsim: Vcsim) -> None:
    """The interrupted run recovered db and api's replica; api never became healthy (it serves nowhere). The removal
    for api stops its replica and leaves db's running; the rerun then recovers api's replica, once."""
    dc = vcsim.datacenter()
    vcsim.add_portgroup(dc, "erp-prod-hq")
    replicas = {name: vcsim.create_vm(dc, name, "erp-prod-hq") for name in ("erp-int-db", "erp-int-api")}
    db, api = (machine(name, index, source_id=name) for index, name in enumerate(replicas))
    dr = site(vcsim, dc)
    provider = VsphereSiteProvider(dr)
    await provider.replicate(replication(vcsim, dc, [db, api]))

    async def launch(key: str, name: str, m) -> None:
        point = (await provider.recovery_points(PointsInput(source=dr, target=dr, machine=m)))[-1]
        await provider.launch(LaunchInput(key=key, site=dr, source=site(vcsim, "DC0", "hq"), app=app(name, m),
                                          machine=m, mode="recovery", point=point))

    await launch(FIRST, "db", db)
    await launch(FIRST, "api", api)
    with pytest.raises(PermanentProviderError, match="poweredOn at dr: recovering it would revert a running VM"):
        await launch(RERUN, "api", api)

    removed = await provider.terminate(TerminateInput(site=dr, prefix="standby/erp/failover/", recovery=True,
                                                      apps=["api"], machines=[api]))
    assert removed == ["erp-int-api"]
    assert replicas["erp-int-api"].runtime.powerState == "poweredOff"
    assert (replicas["erp-int-db"].runtime.powerState, tags(replicas["erp-int-db"].config.extraConfig)["key"]) == (
        "poweredOn", FIRST), "db's recovery stays"

    await launch(RERUN, "api", api)
    marks = {name: (vm.runtime.powerState, tags(vm.config.extraConfig)["key"]) for name, vm in replicas.items()}
    assert marks == {"erp-int-db": ("poweredOn", FIRST), "erp-int-api": ("poweredOn", RERUN)}
    assert vm_names(vcsim, dc) == sorted(replicas), "no VM was made: the replicas are the targets"


def vm_names(vcsim: Vcsim, dc: str) -> list[str]:
    view = vcsim.admin.viewManager.CreateContainerView(vcsim._dc(dc), [vim.VirtualMachine], True)
    try:
        return sorted(vm.name for vm in view.view)
    finally:
        view.Destroy()
