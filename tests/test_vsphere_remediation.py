"""vSphere remediation activities against vcsim: HA-style restart, reset, vMotion, Storage vMotion, heartbeats."""

from __future__ import annotations

import pytest
from pyVmomi import vim
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.sites.vsphere.activities import RemediationActivities
from activities.sites.vsphere.session import SessionPool
from activities.sites.vsphere.tasks import run_task
from standby.contracts.sites import RemediationInput, SiteRef
from standby.runbook import VsphereSite
from tests.vcsim_fixture import Vcsim

pytestmark = pytest.mark.usefixtures("vsphere_env")


@pytest.fixture
def dc(vcsim: Vcsim) -> str:
    name = vcsim.datacenter()
    vcsim.add_portgroup(name, "prod")
    return name


def site(vcsim: Vcsim, dc: str) -> SiteRef:
    return SiteRef(runbook="erp", name="hq", config=VsphereSite(**vcsim.site(dc)))


def host_of(vm: vim.VirtualMachine) -> str:
    return vm.runtime.host.name


async def test_restart_and_reset(vcsim: Vcsim, dc: str) -> None:
    vm = vcsim.create_vm(dc, "erp-app-01", "prod", power_on=True)
    booted = vm.summary.runtime.bootTime
    remediation, env = RemediationActivities(SessionPool()), ActivityEnvironment()

    restart = RemediationInput(site=site(vcsim, dc), vm="erp-app-01", shutdown_seconds=5)
    restarted = await env.run(remediation.restart_vm, restart)
    assert (restarted.action, restarted.outcome) == ("restart", "restarted")
    assert vm.runtime.powerState == "poweredOn" and vm.summary.runtime.bootTime > booted

    reset = await env.run(remediation.reset_vm, RemediationInput(site=site(vcsim, dc), vm=vm._moId))
    assert reset.outcome == "reset" and vm.runtime.powerState == "poweredOn"

    with pytest.raises(ApplicationError, match=r"VM erp-gone not found.*vm=erp-gone\]") as missing:
        await env.run(remediation.reset_vm, RemediationInput(site=site(vcsim, dc), vm="erp-gone"))
    assert missing.value.non_retryable


async def test_vmotion_to_a_named_host_or_the_least_loaded_one(vcsim: Vcsim, dc: str) -> None:
    hosts = [f"{dc}_C0_H{n}" for n in range(3)]
    vm = vcsim.create_vm(dc, "erp-web-01", "prod", power_on=True, memory_mb=1024, host=hosts[0])
    vcsim.create_vm(dc, "batch-big", "prod", power_on=True, memory_mb=8192, host=hosts[1])
    vcsim.create_vm(dc, "batch-small", "prod", power_on=True, memory_mb=2048, host=hosts[2])
    vcsim.create_vm(dc, "idle-huge", "prod", power_on=False, memory_mb=65536, host=hosts[2])  # off: claims nothing
    remediation, env = RemediationActivities(SessionPool()), ActivityEnvironment()

    moved = await env.run(remediation.vmotion, RemediationInput(site=site(vcsim, dc), vm="erp-web-01"))
    assert moved.outcome == f"moved to {hosts[2]}" and moved.host == hosts[2] == host_of(vm)

    named = await env.run(remediation.vmotion, RemediationInput(site=site(vcsim, dc), vm="erp-web-01", host=hosts[1]))
    assert named.host == hosts[1] == host_of(vm)

    stored = await env.run(remediation.storage_vmotion,
                           RemediationInput(site=site(vcsim, dc), vm="erp-web-01", datastore="LocalDS_1"))
    assert stored.datastores == ["LocalDS_1"] and [d.name for d in vm.datastore] == ["LocalDS_1"]

    with pytest.raises(ApplicationError, match="datastore NoSuchDS in datacenter DC.* not found"):
        await env.run(remediation.storage_vmotion,
                      RemediationInput(site=site(vcsim, dc), vm="erp-web-01", datastore="NoSuchDS"))


async def test_a_running_task_is_polled_with_heartbeats(vcsim: Vcsim, dc: str) -> None:
    vm = vcsim.create_vm(dc, "erp-db-01", "prod", power_on=True)
    vcsim.inject(vm, "PowerOffVM_Task", "Slow")  # the task stays running for 1.5 s
    session = SessionPool().get(VsphereSite(**vcsim.site(dc)))
    beats: list = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(details[0])

    async def power_off() -> None:
        await run_task(session, lambda _: vm.PowerOffVM_Task(), "power off", "site=hq")

    await env.run(power_off)
    assert vm.runtime.powerState == "poweredOff"
    assert len(beats) >= 2 and all(b.startswith("power off: running") for b in beats)
