"""runbooks/vsphere-erp.yaml end to end on vcsim and the Temporal dev server: protect, drill and fail over by the CLI.

The runbook is used as written except for what a test environment changes: where its vCenters are (one vcsim,
one datacenter per site), the credentials file and the folder of the ERP's own scripts (stand-ins that log).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from pyVmomi import vim
from temporalio.client import Client, WorkflowHandle

from activities import registry
from activities.sites.registry import Providers
from activities.sites.vsphere import PROVIDER as VSPHERE
from activities.sites.vsphere.provider import VsphereSiteProvider
from activities.sites.vsphere.session import SessionPool
from standby import client as temporal
from standby.cli import main
from standby.contracts.operations import OperationResult, Progress
from standby.contracts.protect import OwnerStatus
from standby.loader import load
from tests.conftest import serving
from tests.helpers import eventually_async
from tests.ops_helpers import stop_workflows
from tests.vcsim_fixture import PASSWORD, USER, Vcsim, network_of, standby_snapshots

RUNBOOK = Path(__file__).resolve().parent.parent / "runbooks" / "vsphere-erp.yaml"
MACHINES = ("erp-db-01", "erp-app-01", "erp-app-02", "erp-web-01")
SCRIPT = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
"""


@pytest.fixture
def erp(vcsim: Vcsim, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """vsphere-erp.yaml pointed at vcsim: one datacenter per site, its port groups, its VMs."""
    datacenters = {site: vcsim.datacenter() for site in ("hq", "dr", "branch")}
    for portgroup in ("erp-prod-hq", "dr-test-hq"):
        vcsim.add_portgroup(datacenters["hq"], portgroup)
    # Replicas registered from replicated files still name the protected site's port group until recovered.
    for portgroup in ("erp-prod-dr", "erp-prod-hq", "dr-test-bubble"):
        vcsim.add_portgroup(datacenters["dr"], portgroup)
    vcsim.add_portgroup(datacenters["branch"], "dr-test-branch")
    for name in MACHINES:
        vcsim.create_vm(datacenters["hq"], name, "erp-prod-hq")
        vcsim.create_vm(datacenters["dr"], name, "erp-prod-hq")

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
        endpoint = vcsim.site(datacenters[name])
        site.update(host=endpoint["host"], port=endpoint["port"], protocol=endpoint["protocol"],
                    datacenter=endpoint["datacenter"], cluster=endpoint["cluster"], credentials_file=str(secret))
    path = tmp_path / "vsphere-erp.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path, datacenters


def cli(client: Client, task_queue: str, state_dir: Path, *args: str):
    """`standby ...` in-process against the test's Temporal server and task queue (its own loop, in a thread)."""
    env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host, "STANDBY_TASK_QUEUE": task_queue,
           "STANDBY_STATE": str(state_dir), "COLUMNS": "200"}
    return asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


async def protect(client: Client, task_queue: str, state_dir: Path, path: Path) -> WorkflowHandle:
    """`standby protect`, until the owner sees every replica at dr in continuous protection; the owner's handle."""
    protected = await cli(client, task_queue, state_dir, "protect", str(path))
    assert protected.exit_code == 0, protected.output
    handle = client.get_workflow_handle(temporal.owner_id("vsphere-erp"))

    async def continuous() -> bool:
        status = await handle.query("status", result_type=OwnerStatus)
        return {m.machine for m in status.machines if m.phase == "continuous" and m.points} == set(MACHINES)

    await eventually_async(continuous, 30, what="every replica continuous")
    return handle


async def answer_prompt(client: Client, task_queue: str, state_dir: Path, handle: WorkflowHandle) -> None:
    async def prompted() -> bool:
        return (await handle.query("progress", result_type=Progress)).prompt is not None

    await eventually_async(prompted, 30, what="the failover waiting at its storage prompt")
    answered = await cli(client, task_queue, state_dir, "continue", handle.id, "--by", "storage-team")
    assert answered.exit_code == 0, answered.output


async def test_vsphere_erp_drills_and_fails_over_through_the_cli(client: Client, task_queue: str, state_dir: Path,
                                                                 vcsim: Vcsim, erp) -> None:
    path, datacenters = erp
    runbook = load(path)
    providers = Providers(state_dir, [
        replace(VSPHERE, factory=lambda site, _: VsphereSiteProvider(site, sessions=SessionPool()))])
    async with serving(client, task_queue, registry.build(state_dir, providers=providers)):
        owner = await protect(client, task_queue, state_dir, path)
        try:
            hq = {name: vcsim.find(datacenters["hq"], vim.VirtualMachine, name) for name in MACHINES}
            dr = {name: vcsim.find(datacenters["dr"], vim.VirtualMachine, name) for name in MACHINES}
            assert {vm.runtime.powerState for vm in hq.values()} == {"poweredOn"}  # brought up at hq
            assert all(len(standby_snapshots(vm)) == 1 for vm in dr.values())

            drilled = await cli(client, task_queue, state_dir, "drill", str(path), "--yes", "--keep-for", "0s")
            assert drilled.exit_code == 0, drilled.output
            drill = await client.get_workflow_handle("standby/vsphere-erp/drill", result_type=OperationResult).result()
            assert drill.state == "passed"
            clones = [t.target_id for a in drill.apps for t in a.targets]
            assert sorted(c.rsplit("-drill-", 1)[0] for c in clones) == sorted(MACHINES)
            assert all(vcsim.find(datacenters["dr"], vim.VirtualMachine, c) is None for c in clones)  # cleaned up
            assert {vm.runtime.powerState for vm in dr.values()} == {"poweredOff"}  # replicas untouched

            started = await cli(client, task_queue, state_dir, "failover", str(path), "--yes", "--detach")
            assert started.exit_code == 0, started.output
            failover = client.get_workflow_handle("standby/vsphere-erp/failover", result_type=OperationResult)
            await answer_prompt(client, task_queue, state_dir, failover)
            result = await failover.result()
            assert result.state == "failed_over", result.error
            truth = (await owner.query("status", result_type=OwnerStatus)).truth
            assert {app: (s.phase, s.serving) for app, s in truth.apps.items()} == {
                app: ("failed_over", "dr") for app in runbook.apps}
            stopped = await cli(client, task_queue, state_dir, "protect", str(path), "--stop")
            assert stopped.exit_code == 0, stopped.output
        finally:
            await stop_workflows(owner)

    assert {vm.runtime.powerState for vm in hq.values()} == {"poweredOff"}  # stopped before recovery
    assert {vm.runtime.powerState for vm in dr.values()} == {"poweredOn"}
    assert {tuple(network_of(vm)) for vm in dr.values()} == {("erp-prod-dr",)}  # the runbook's network mapping
    assert dr["erp-db-01"].guest.ipAddress == "10.20.1.10"  # re-addressed by guest customization
    db = next(a for a in result.apps if a.app == "db")
    stopped = next(s for s in result.steps if s.name.startswith("stop db on hq"))
    assert db.point is not None and db.point.time >= stopped.ended - timedelta(seconds=1)  # the drain's point
    log = [line.strip() for line in (path.parent / "erp.log").read_text().splitlines()]
    assert log.count("db-consistency-check.sh hq") == 2 and "rebuild-search-index.sh" in log  # drill, failover
    assert {"erp-health.sh db", "erp-health.sh app", "erp-health.sh web"} <= set(log)
    moved = next(s for s in result.steps if s.name == "action (after_group:application): vmotion erp-app-01")
    assert moved.status == "done" and "host" in moved.detail, moved
