"""runbooks/vsphere-erp.yaml end to end on vcsim and the Temporal dev server, every operation through the runbook's
owner: protect, drill, failover, failback, return to normal and switchover.

The runbook is used as written except for what a test environment changes: where its vCenters are (one vcsim,
one datacenter per site), the credentials file and the folder of the ERP's own scripts (stand-ins that log).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from pyVmomi import vim
from temporalio.client import Client

from activities import registry
from activities.sites.registry import Providers
from activities.sites.vsphere import PROVIDER as VSPHERE
from activities.sites.vsphere.provider import VsphereSiteProvider
from activities.sites.vsphere.session import SessionPool
from standby.contracts.operations import OperationResult
from standby.loader import load
from tests.conftest import serving
from tests.ops_helpers import finished, owner_status, request, result_answering, start_protect, stop_workflows
from tests.vcsim_fixture import PASSWORD, USER, Vcsim, network_of, standby_snapshots

RUNBOOK = Path(__file__).resolve().parent.parent / "runbooks" / "vsphere-erp.yaml"
MACHINES = ("erp-db-01", "erp-app-01", "erp-app-02", "erp-web-01")
SCRIPT = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
"""


def erp_file(tmp_path: Path, places: dict[str, tuple[Vcsim, str]]) -> Path:
    """vsphere-erp.yaml pointed at vcsim: each site (hq, dr, branch) at a datacenter of a simulator, its port groups,
    its VMs."""
    (hq, hq_dc), (dr, dr_dc), (branch, branch_dc) = places["hq"], places["dr"], places["branch"]
    for portgroup in ("erp-prod-hq", "dr-test-hq"):
        hq.add_portgroup(hq_dc, portgroup)
    # Replicas registered from replicated files still name the protected site's port group until recovered.
    for portgroup in ("erp-prod-dr", "erp-prod-hq", "dr-test-bubble"):
        dr.add_portgroup(dr_dc, portgroup)
    branch.add_portgroup(branch_dc, "dr-test-branch")
    for name in MACHINES:
        hq.create_vm(hq_dc, name, "erp-prod-hq")
        dr.create_vm(dr_dc, name, "erp-prod-hq")

    scripts = tmp_path / "erp-bin"
    scripts.mkdir()
    for script in ("db-consistency-check.sh", "rebuild-search-index.sh", "erp-health.sh"):
        (scripts / script).write_text(SCRIPT.format(log=tmp_path / "erp.log"))
        (scripts / script).chmod(0o755)
    secret = tmp_path / "vc.ini"
    secret.write_text(f"[vcenter]\nuser = {USER}\npassword = {PASSWORD}\n")
    secret.chmod(0o600)

    document = yaml.safe_load(RUNBOOK.read_text().replace("/opt/erp/bin/", f"{scripts}/"))
    for name, site in document["sites"].items():
        simulator, datacenter = places[name]
        endpoint = simulator.site(datacenter)
        site.update(host=endpoint["host"], port=endpoint["port"], protocol=endpoint["protocol"],
                    datacenter=endpoint["datacenter"], cluster=endpoint["cluster"], credentials_file=str(secret))
    path = tmp_path / "vsphere-erp.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def erp(vcsim: Vcsim, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """vsphere-erp.yaml pointed at vcsim: one datacenter per site, its port groups, its VMs."""
    datacenters = {site: vcsim.datacenter() for site in ("hq", "dr", "branch")}
    return erp_file(tmp_path, {site: (vcsim, dc) for site, dc in datacenters.items()}), datacenters


def power(vms: dict[str, vim.VirtualMachine]) -> set[str]:
    """The power states of a set of VMs."""
    return {vm.runtime.powerState for vm in vms.values()}


def step(result: OperationResult, prefix: str):
    """The operation's first step whose name starts with `prefix`."""
    return next(s for s in result.steps if s.name.startswith(prefix))


async def test_vsphere_erp_lifecycle_through_its_owner(client: Client, task_queue: str, state_dir: Path,
                                                       vcsim: Vcsim, erp) -> None:
    """drill -> failover -> failback -> return -> switchover on vcsim: power, networks, points and guest IP follow."""
    path, datacenters = erp
    runbook = load(path)
    providers = Providers(state_dir, [
        replace(VSPHERE, factory=lambda site, _: VsphereSiteProvider(site, sessions=SessionPool()))])
    hq = {name: vcsim.find(datacenters["hq"], vim.VirtualMachine, name) for name in MACHINES}
    dr = {name: vcsim.find(datacenters["dr"], vim.VirtualMachine, name) for name in MACHINES}
    owner = None
    async with serving(client, task_queue, registry.build(state_dir, providers=providers)):
        try:
            owner = await start_protect(client, runbook, task_queue)
            assert power(hq) == {"poweredOn"}  # brought up at hq
            assert all(len(standby_snapshots(vm)) >= 1 for vm in dr.values())

            drill = await finished(await request(client, runbook, task_queue, "drill", yes=True,
                                                 keep_for=timedelta(0)), 120)
            assert drill.state == "passed", drill.error
            clones = [t.target_id for a in drill.apps for t in a.targets]
            assert sorted(c.rsplit("-drill-", 1)[0] for c in clones) == sorted(MACHINES)
            assert all(vcsim.find(datacenters["dr"], vim.VirtualMachine, c) is None for c in clones)  # cleaned up
            assert power(dr) == {"poweredOff"}  # replicas untouched

            failover = await result_answering(client, await request(client, runbook, task_queue, "failover",
                                                                    yes=True))
            assert failover.state == "failed_over", failover.error
            assert power(hq) == {"poweredOff"} and power(dr) == {"poweredOn"}
            assert {tuple(network_of(vm)) for vm in dr.values()} == {("erp-prod-dr",)}  # the runbook's mapping
            assert dr["erp-db-01"].guest.ipAddress == "10.20.1.10"  # re-addressed by guest customization
            db = next(a for a in failover.apps if a.app == "db")
            stopped = step(failover, "stop db on hq").ended
            assert db.point is not None and db.point.time >= stopped - timedelta(seconds=1)  # the drain's point
            moved = step(failover, "action (after_group:application): vmotion erp-app-01")
            assert moved.status == "done" and "host" in moved.detail, moved

            failback = await result_answering(client, await request(client, runbook, task_queue, "failback",
                                                                    yes=True))
            assert failback.state == "failed_back", failback.error
            assert power(dr) == {"poweredOff"} and power(hq) == {"poweredOn"}
            # hq's replicas were protected from dr before they were launched: points taken at hq during failback.
            assert all(standby_snapshots(vm) for vm in hq.values())
            assert {tuple(network_of(vm)) for vm in hq.values()} == {("erp-prod-hq",)}

            returned = await finished(await request(client, runbook, task_queue, "return", yes=True), 120)
            assert returned.state == "normal", returned.error
            status = await owner_status(client, runbook)
            assert {a.serving for a in status.truth.apps.values()} == {"hq"}
            assert {(a.source, a.target) for a in status.truth.apps.values()} == {("hq", "dr")}

            newest = {name: max(standby_snapshots(vm)) for name, vm in dr.items()}  # names sort by time
            switched = await finished(await request(client, runbook, task_queue, "switchover", yes=True), 120)
            assert switched.state == "switched_over", switched.error
            assert power(hq) == {"poweredOff"} and power(dr) == {"poweredOn"}
            # Zero loss: the replication queue was drained into a new point at dr once hq's apps had stopped.
            assert all(max(standby_snapshots(vm)) > newest[name] for name, vm in dr.items())
        finally:
            await stop_workflows(owner)

    log = [line.strip() for line in (path.parent / "erp.log").read_text().splitlines()]
    assert log.count("db-consistency-check.sh hq") == 3  # drill, failover, failback: `site` is the protected source
    assert log.count("rebuild-search-index.sh") == 3  # failover, failback, switchover
    assert {"erp-health.sh db", "erp-health.sh app", "erp-health.sh web"} <= set(log)
