"""Remediation on vSphere: restart or reset a VM, vMotion it, Storage vMotion it.

Each takes a site (its vCenter and datacenter) and a VM by name, instance UUID
or moid, and says what it did. `RemediationActivities` (vsphere/activities.py)
runs them as Temporal activities.
"""

from pyVmomi import vim

from activities.sites.base import PermanentProviderError
from activities.sites.vsphere import inventory, power
from activities.sites.vsphere.session import POOL, SessionPool
from activities.sites.vsphere.vcenter import Vcenter
from standby.contracts.sites import RemediationInput, RemediationResult, SiteRef
from standby.runbook import VsphereSite


def least_loaded(hosts: list[tuple[vim.HostSystem, dict]], vms: list[dict], exclude: object) -> vim.HostSystem | None:
    """The usable host (connected, not in maintenance) whose powered-on VMs claim the least share of its memory."""
    claimed: dict[str, int] = {}
    for vm in vms:
        if vm.get("runtime.powerState") == power.ON and vm.get("runtime.host") is not None:
            key = vm["runtime.host"]._moId
            claimed[key] = claimed.get(key, 0) + int(vm.get("config.hardware.memoryMB") or 0)
    usable = [(h, p) for h, p in hosts if p.get("runtime.connectionState") == "connected"
              and not p.get("runtime.inMaintenanceMode") and h != exclude]
    if not usable:
        return None

    def share(item: tuple[vim.HostSystem, dict]) -> tuple[float, str]:
        return claimed.get(item[0]._moId, 0) * 2**20 / max(item[1].get("hardware.memorySize") or 1, 1), item[1]["name"]

    return min(usable, key=share)[0]


class Remediation:
    """The vSphere remediation actions, sessions from the worker's pool."""

    def __init__(self, sessions: SessionPool = POOL):
        self.sessions = sessions

    def _vcenter(self, site: SiteRef) -> Vcenter:
        if not isinstance(site.config, VsphereSite):
            raise PermanentProviderError(f"site {site.name} is not a vsphere site: vSphere remediation needs one")
        return Vcenter(site.name, site.config, self.sessions)

    async def _where_now(self, vc: Vcenter, vm: vim.VirtualMachine, ident: str) -> tuple[str, list[str]]:
        found = await vc.run(lambda content: inventory.props(content, vm, ["runtime.host", "datastore"]),
                             "read placement", ident)
        host = found.get("runtime.host")
        name = await vc.run(lambda _: host.name, "read host name", ident) if host is not None else ""
        stores = await vc.run(lambda _: sorted(d.name for d in found.get("datastore") or []), "read datastores", ident)
        return name, stores

    async def _result(self, vc: Vcenter, vm: vim.VirtualMachine, inp_vm: str, action: str,
                      outcome: str) -> RemediationResult:
        host, stores = await self._where_now(vc, vm, inp_vm)
        return RemediationResult(site=vc.name, vm=inp_vm, action=action, outcome=outcome, host=host, datastores=stores)

    async def restart_vm(self, inp: RemediationInput) -> RemediationResult:
        """Restart a VM as VMware HA would: guest shutdown (power off after a while), then power on."""
        vc = self._vcenter(inp.site)
        vm = await vc.vm(inp.vm)
        outcome = await power.restart(vc.session, vm, inp.shutdown_seconds, vc.where(inp.vm))
        return await self._result(vc, vm, inp.vm, "restart", outcome)

    async def reset_vm(self, inp: RemediationInput) -> RemediationResult:
        """Hard-reset a hung VM."""
        vc = self._vcenter(inp.site)
        vm = await vc.vm(inp.vm)
        return await self._result(vc, vm, inp.vm, "reset", await power.reset(vc.session, vm, vc.where(inp.vm)))

    async def vmotion(self, inp: RemediationInput) -> RemediationResult:
        """vMotion a VM to inp.host, or to the least-loaded other host of the site's cluster."""
        vc = self._vcenter(inp.site)
        vm = await vc.vm(inp.vm)
        target = await self._host(vc, vm, inp)
        if target is None:
            return await self._result(vc, vm, inp.vm, "vmotion", "no other usable host in the cluster")
        name = await vc.run(lambda _: target.name, "read host name", inp.vm)
        await vc.task(lambda _: vm.RelocateVM_Task(spec=vim.vm.RelocateSpec(host=target)), f"vMotion to {name}", inp.vm)
        return await self._result(vc, vm, inp.vm, "vmotion", f"moved to {name}")

    async def _host(self, vc: Vcenter, vm: vim.VirtualMachine, inp: RemediationInput) -> vim.HostSystem | None:
        dc = await vc.datacenter()
        host = inp.host
        if host:
            return await vc.run(lambda content: inventory.host(content, dc, host, vc.where(inp.vm)), "find host",
                                inp.vm)

        def choose(content: vim.ServiceInstanceContent) -> vim.HostSystem | None:
            cluster = inventory.cluster(content, dc, vc.config, vc.where(inp.vm))
            if cluster is None:
                raise PermanentProviderError(f"vMotion to the least-loaded host needs the site's cluster, or name a "
                                             f"host [{vc.where(inp.vm)}]")
            hosts = inventory.collect(content, cluster, vim.HostSystem, [
                "name", "runtime.connectionState", "runtime.inMaintenanceMode", "hardware.memorySize"])
            vms = [p for _, p in inventory.collect(content, cluster, vim.VirtualMachine, [
                "runtime.host", "runtime.powerState", "config.hardware.memoryMB"])]
            current = inventory.props(content, vm, ["runtime.host"]).get("runtime.host")
            return least_loaded(hosts, vms, current)
        return await vc.run(choose, "choose the least-loaded host", inp.vm)

    async def storage_vmotion(self, inp: RemediationInput) -> RemediationResult:
        """Storage vMotion a VM to a datastore of its datacenter."""
        vc = self._vcenter(inp.site)
        vm = await vc.vm(inp.vm)
        dc = await vc.datacenter()
        name = inp.datastore
        if not name:
            raise PermanentProviderError(f"Storage vMotion needs a datastore {vc.where(inp.vm)}")
        store = await vc.run(lambda _: inventory.datastore(dc, name, vc.where(inp.vm)), "find datastore", inp.vm)
        await vc.task(lambda _: vm.RelocateVM_Task(spec=vim.vm.RelocateSpec(datastore=store)),
                      f"Storage vMotion to {inp.datastore}", inp.vm)
        return await self._result(vc, vm, inp.vm, "storage_vmotion", f"moved to {inp.datastore}")
