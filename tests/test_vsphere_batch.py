"""A batch launch on vSphere against vcsim: the VMs of a batch launched together, each app from one moment, their
tasks waited for in one wait (counted by the simulator), each machine with its own outcome, and a retried batch
(the same key) finds every VM it launched instead of reverting it again; a stop batch likewise."""

from __future__ import annotations

import pytest
from temporalio.testing import ActivityEnvironment

from activities.sites.base import PermanentProviderError, ProviderError
from activities.sites.batch import launch_batch, stop_batch
from activities.sites.registry import Providers
from activities.sites.vsphere import PROVIDER as VSPHERE
from activities.sites.vsphere.inventory import tags
from standby.contracts.batches import LaunchBatchInput, LaunchProgress, StopBatchInput, StopProgress
from standby.contracts.sites import PointsInput
from tests.test_vsphere_provider import app, machine, replication, site
from tests.vcsim_fixture import Vcsim
from tests.vcsim_fixture import wait as vcsim_wait

pytestmark = pytest.mark.usefixtures("vsphere_env")


@pytest.fixture
def dr(vcsim: Vcsim) -> str:
    """A datacenter of this test's own with a production port group."""
    dc = vcsim.datacenter()
    vcsim.add_portgroup(dc, "erp-prod-hq")
    return dc


def _one_wait(served: dict[str, int], filters: int) -> None:
    """vcsim served one collector of the batch's own, its waits and `filters` task filters, and no task read."""
    assert served["CreatePropertyCollector"] == 1 and served["WaitForUpdatesEx"] >= 1, served
    assert served.get("CreateFilter@Task") == filters, served
    assert not served.get("RetrieveProperties@Task") and not served.get("RetrievePropertiesEx@Task"), served


async def test_a_batch_launches_every_vm_from_one_moment_and_a_retry_finds_them(vcsim: Vcsim, dr: str,
                                                                                 tmp_path) -> None:
    names = ["erp-db-01", "erp-db-02", "erp-web-01"]
    replicas = {n: vcsim.create_vm(dr, n, "erp-prod-hq") for n in names}
    refs = {n: machine(n, i, source_id=n) for i, n in enumerate(names)}
    dr_site = site(vcsim, dr)
    providers = Providers(tmp_path, [VSPHERE])
    provider = providers.for_site(dr_site)
    await provider.replicate(replication(vcsim, dr, list(refs.values())))
    inp = LaunchBatchInput(key="standby/erp/failover/run-1", site=dr_site, source=site(vcsim, "DC0", "hq"),
                           mode="recovery", apps=[app("db", refs["erp-db-01"], refs["erp-db-02"]),
                                                  app("web", refs["erp-web-01"])])

    done = await ActivityEnvironment().run(launch_batch, providers, inp, LaunchProgress())
    assert [t.machine for t in done.targets] == names and all(t.launched for t in done.targets)
    assert all(r.runtime.powerState == "poweredOn" for r in replicas.values())
    assert {tags(r.config.extraConfig)["key"] for r in replicas.values()} == {inp.key}
    # One replication pass: each VM's one point, and every target says which it came back from.
    listed = {n: await provider.recovery_points(PointsInput(source=inp.source, target=dr_site, machine=refs[n]))
              for n in names}
    assert {n: [p.id] for n, p in done.points.items()} == {n: [p.id for p in found] for n, found in listed.items()}
    assert {t.machine: t.point_id for t in done.targets} == {n: p.id for n, p in done.points.items()}

    again = await ActivityEnvironment().run(launch_batch, providers, inp, LaunchProgress())
    assert [t.target_id for t in again.targets] == [t.target_id for t in done.targets]
    assert not any(t.launched for t in again.targets), "a retry must find the VMs, not revert them again"


async def test_a_batch_waits_for_all_its_tasks_in_one_wait_and_one_failing_task_fails_one_machine(
        vcsim: Vcsim, dr: str, tmp_path) -> None:
    names = ["erp-db-01", "erp-db-02", "erp-web-01"]
    replicas = {n: vcsim.create_vm(dr, n, "erp-prod-hq") for n in names}
    refs = {n: machine(n, i, source_id=n) for i, n in enumerate(names)}
    dr_site = site(vcsim, dr)
    providers = Providers(tmp_path, [VSPHERE])
    await providers.for_site(dr_site).replicate(replication(vcsim, dr, list(refs.values())))
    inp = LaunchBatchInput(key="standby/erp/failover/run-2", site=dr_site, source=site(vcsim, "DC0", "hq"),
                           mode="recovery", apps=[app("db", refs["erp-db-01"], refs["erp-db-02"]),
                                                  app("web", refs["erp-web-01"])])
    point = replicas["erp-db-02"].snapshot.rootSnapshotList[0].snapshot
    vcsim.inject(point, "RevertToSnapshot_Task", "InvalidState")  # its revert task fails
    heartbeats: list = []
    env = ActivityEnvironment()
    env.on_heartbeat = heartbeats.append
    before = vcsim.calls()

    progress = LaunchProgress()
    with pytest.raises(ProviderError) as failed:
        await env.run(launch_batch, providers, inp, progress)
    served = _delta(before, vcsim.calls())

    # One collector of the batch's own and its waits, one filter per step of the three machines (revert,
    # reconfigure, power on: 7 tasks), and not one read of a task's state: no task was polled.
    _one_wait(served, filters=3)
    assert "1 of 3 machines failed to launch: erp-db-02: revert to standby-" in str(failed.value)
    assert not isinstance(failed.value, PermanentProviderError), "a busy VM is worth retrying"
    assert [t.machine for t in progress.targets] == ["erp-db-01", "erp-web-01"]
    assert list(progress.failed) == ["erp-db-02"] and "InvalidState" in progress.failed["erp-db-02"]
    assert {n: r.runtime.powerState for n, r in replicas.items()} == {
        "erp-db-01": "poweredOn", "erp-db-02": "poweredOff", "erp-web-01": "poweredOn"}
    assert heartbeats[-1] == progress, "the retry must read every machine's outcome"

    before = vcsim.calls()
    again = await ActivityEnvironment().run(launch_batch, providers, inp, heartbeats[-1].model_copy(deep=True))
    served = _delta(before, vcsim.calls())
    assert [t.machine for t in again.targets] == names and again.failed == {}
    _one_wait(served, filters=3)
    assert replicas["erp-db-02"].runtime.powerState == "poweredOn"
    assert tags(replicas["erp-db-02"].config.extraConfig)["key"] == inp.key


async def test_a_stop_batch_waits_for_all_its_power_offs_in_one_wait_and_one_failing_vm_fails_one_app(
        vcsim: Vcsim, dr: str, tmp_path) -> None:
    names = ["erp-db-01", "erp-db-02", "erp-web-01", "erp-web-02"]
    vms = {n: vcsim.create_vm(dr, n, "erp-prod-hq", power_on=True) for n in names}
    for name in names[:3]:  # a suspended VM takes no guest shutdown: it is powered off, by a task
        vcsim_wait(vms[name].SuspendVM_Task())
    refs = {n: machine(n, i, source_id=n) for i, n in enumerate(names)}
    dr_site = site(vcsim, dr)
    providers = Providers(tmp_path, [VSPHERE])
    inp = StopBatchInput(site=dr_site, apps=[app("db", refs["erp-db-01"], refs["erp-db-02"]),
                                             app("web", refs["erp-web-01"], refs["erp-web-02"])])
    vcsim.inject(vms["erp-db-01"], "PowerOffVM_Task", "InvalidState")  # its power-off task fails
    heartbeats: list = []
    env = ActivityEnvironment()
    env.on_heartbeat = heartbeats.append
    before = vcsim.calls()

    progress = StopProgress()
    with pytest.raises(ProviderError) as failed:
        await env.run(stop_batch, providers, inp, progress)
    served = _delta(before, vcsim.calls())

    # One collector for both apps: a filter for the power-offs of erp-db-01 and erp-web-01 together, one for
    # erp-db-02's, and not one read of a task's state.
    _one_wait(served, filters=2)
    assert "1 of 2 apps failed to stop: db: 1 of 2 machines failed to stop: erp-db-01: power off" in str(failed.value)
    assert "InvalidState" in str(failed.value) and not isinstance(failed.value, PermanentProviderError)
    stopped = [("web", {"erp-web-01": "killed", "erp-web-02": "stopped"})]
    assert [(r.app, r.outcome) for r in progress.results] == stopped
    assert {n: vm.runtime.powerState for n, vm in vms.items()} == {
        "erp-db-01": "suspended", "erp-db-02": "poweredOff", "erp-web-01": "poweredOff", "erp-web-02": "poweredOff"}
    assert heartbeats[-1] == progress, "the retry must read which apps stopped"

    before = vcsim.calls()
    again = await ActivityEnvironment().run(stop_batch, providers, inp, heartbeats[-1].model_copy(deep=True))
    served = _delta(before, vcsim.calls())
    assert [(r.app, r.outcome) for r in again.results] == [
        ("db", {"erp-db-01": "killed", "erp-db-02": "not running"}), *stopped]
    _one_wait(served, filters=1)
    assert {vm.runtime.powerState for vm in vms.values()} == {"poweredOff"}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {method: count - before.get(method, 0) for method, count in after.items() if count > before.get(method, 0)}
