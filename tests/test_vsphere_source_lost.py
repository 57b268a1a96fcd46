"""A whole `standby failover` of vsphere-erp while the source vCenter does not answer: its vcsim is stopped.

hq runs on a vcsim of its own, dr and branch on the session's. The ERP is protected (brought up at hq, its replicas
at dr snapshotted); then hq's simulator stops, and the failover completes at dr: past the runbook's short
stop_deadline every hq machine is fenced, and the result says what was fenced and why.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import yaml
from pyVmomi import vim
from temporalio.client import Client

from activities import registry
from activities.sites.registry import Providers
from activities.sites.vsphere import PROVIDER as VSPHERE
from activities.sites.vsphere.provider import VsphereSiteProvider
from activities.sites.vsphere.session import SessionPool
from standby.loader import load
from tests.conftest import serving
from tests.ops_helpers import owner_status, request, result_answering, start_protect, stop_workflows
from tests.test_vsphere_erp import MACHINES, erp_file, power, step
from tests.vcsim_fixture import PASSWORD, USER, Vcsim


async def test_vsphere_failover_completes_with_the_source_vcenter_stopped_and_says_what_it_fenced(
        client: Client, task_queue: str, state_dir: Path, vcsim: Vcsim, vsphere_env, tmp_path: Path) -> None:
    source = Vcsim("-dc", "1", "-username", USER, "-password", PASSWORD, scratch=tmp_path)
    try:
        path = erp_file(tmp_path, {"hq": (source, "DC0"), "dr": (vcsim, vcsim.datacenter()),
                                   "branch": (vcsim, vcsim.datacenter())})
        document = yaml.safe_load(path.read_text())
        document["protection"]["stop_deadline"] = "2s"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        runbook = load(path)
        dr_dc = document["sites"]["dr"]["datacenter"]
        dr = {name: vcsim.find(dr_dc, vim.VirtualMachine, name) for name in MACHINES}
        providers = Providers(state_dir, [
            replace(VSPHERE, factory=lambda site, _: VsphereSiteProvider(site, sessions=SessionPool()))])
        owner = None
        async with serving(client, task_queue, registry.build(state_dir, providers=providers)):
            try:
                owner = await start_protect(client, runbook, task_queue)
                source.stop()  # the source vCenter is gone, after the workers logged in to it
                failover = await result_answering(client, await request(client, runbook, task_queue, "failover",
                                                                        yes=True, force=True))
                assert failover.state == "failed_over", failover.error
                assert power(dr) == {"poweredOn"}
                stops = {s.name: s.detail for s in failover.steps if s.name.startswith("stop ")}
                assert stops and all("fenced (" in d and "stopped" not in d.split("fenced")[0]
                                     for d in stops.values()), stops
                first = next(iter(stops.values()))
                # Why: the deadline, and what the provider said it could not reach.
                assert first.startswith("web: erp-web-01 fenced (not stopped within the stop deadline of 2s: "), first
                assert "the vCenter does not answer" in first and f"vcenter={source.host}:{source.port}" in first, first
                recorded = step(failover, "record state")
                assert all(f"{machine}: fenced" in recorded.detail for machine in MACHINES), recorded.detail
                status = await owner_status(client, runbook)
                assert {a.serving for a in status.truth.apps.values()} == {"dr"}
                assert status.truth.epoch >= 1
            finally:
                await stop_workflows(owner)
    finally:
        source.stop()
