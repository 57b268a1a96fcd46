"""`standby discover` on a vSphere site: the VMs of its datacenter, or of one VM folder, with custom attributes.

vSphere tags live in the vCenter's REST tagging service, which pyvmomi does not speak; `--tag K=V` therefore matches
custom attributes (the SOAP API's customValue), which a vCenter shows beside them. Templates and Standby's own
drill clones are left out. Blocking, like `standby doctor`: it runs in the command, with this machine's credentials.
"""

from typing import Any

from pyVmomi import vim

from activities.sites.vsphere import inventory
from activities.sites.vsphere.session import POOL, SessionPool
from activities.sites.vsphere.vcenter import Vcenter
from standby.contracts.sites import SiteRef
from standby.discovery import Discovered, Filters
from standby.runbook import VsphereSite

PROPERTIES = ["name", "config.template", "config.guestId", "config.extraConfig", "customValue", "runtime.powerState",
              "guest.ipAddress"]


def discover(site: SiteRef, filters: Filters, sessions: SessionPool = POOL) -> list[Discovered]:
    """The site's VMs (in `filters.folder`, with every `filters.tags` attribute), by name."""
    assert isinstance(site.config, VsphereSite)
    vc = Vcenter(site.name, site.config, sessions)
    where = vc.describe()

    def listed(content: vim.ServiceInstanceContent) -> list[Discovered]:
        dc = inventory.datacenter(content, vc.config, where)
        root = inventory.folder(dc, filters.folder, where) if filters.folder else dc.vmFolder
        manager = content.customFieldsManager  # a vCenter always has one; the stubs say it may not
        fields = {f.key: f.name for f in (manager.field if manager is not None else None) or []}
        found = [_discovered(vm, values, fields) for vm, values in inventory.collect(content, root, vim.VirtualMachine,
                                                                                     PROPERTIES)
                 if _wanted(values, fields, filters)]
        return sorted(found, key=lambda m: m.name)

    return vc.session.call(listed, "list VMs", where)


def _attributes(values: dict[str, Any], fields: dict[int, str]) -> dict[str, str]:
    return {fields.get(v.key, str(v.key)): v.value for v in values.get("customValue") or []}


def _wanted(values: dict[str, Any], fields: dict[int, str], filters: Filters) -> bool:
    if values.get("config.template") or inventory.tags(values.get("config.extraConfig")).get("mode") == "test":
        return False
    attributes = _attributes(values, fields)
    return all(attributes.get(key) == value for key, value in filters.tags.items())


def _discovered(vm: vim.VirtualMachine, values: dict[str, Any], fields: dict[int, str]) -> Discovered:
    guest = values.get("config.guestId") or "unknown guest"
    seen = [vm._moId, values.get("runtime.powerState", ""), guest, values.get("guest.ipAddress") or "no guest IP"]
    attributes = ", ".join(f"{k}={v}" for k, v in sorted(_attributes(values, fields).items()))
    return Discovered(name=values["name"], source_id=values["name"],
                      detail=", ".join([*seen, *([attributes] if attributes else [])]),
                      windows=guest.lower().startswith("win"))
