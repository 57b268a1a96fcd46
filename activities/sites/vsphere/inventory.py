"""Finding things in one datacenter of a vCenter: VMs by name, instance UUID or moid; hosts, pools, networks.

Every function here blocks (pyvmomi); callers run them through `Session.run`.
"""

import re
from typing import Any, cast

from pyVmomi import vim, vmodl
from pyVmomi.VmomiSupport import ManagedObject

from activities.sites.base import PermanentProviderError
from activities.sites.vsphere.errors import not_found
from standby.runbook import VsphereSite

MOID = re.compile(r"^vm-\d+$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TAG = "standby."


# pyVmomi types every manager of the service content as optional; a vCenter has them all.
def _views(content: vim.ServiceInstanceContent) -> vim.view.ViewManager:
    return cast(vim.view.ViewManager, content.viewManager)


def _search(content: vim.ServiceInstanceContent) -> vim.SearchIndex:
    return cast(vim.SearchIndex, content.searchIndex)


def config_of(vm: vim.VirtualMachine) -> vim.vm.ConfigInfo:
    """A VM's configuration; pyVmomi types it optional, vCenter leaves it unset only for an inaccessible VM."""
    return cast(vim.vm.ConfigInfo, vm.config)


def collect(content: vim.ServiceInstanceContent, root: vim.ManagedEntity, kind: type,
            props: list[str]) -> list[tuple[Any, dict]]:
    """(object, {property: value}) of every `kind` under root, in one round trip."""
    view = _views(content).CreateContainerView(root, [kind], True)
    try:
        traversal = vmodl.query.PropertyCollector.TraversalSpec(name="view", path="view", skip=False, type=type(view))
        spec = vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=view, skip=True, selectSet=[traversal])],
            propSet=[vmodl.query.PropertyCollector.PropertySpec(type=kind, pathSet=props)])
        found = content.propertyCollector.RetrieveContents([spec])
    finally:
        view.Destroy()
    return [(item.obj, {p.name: p.val for p in item.propSet}) for item in found]


def props(content: vim.ServiceInstanceContent, obj: ManagedObject, paths: list[str]) -> dict[str, Any]:
    """Some properties of one object; an unset one is missing from the result."""
    # One PropertyCollector call, not pyvmomi's per-property Fetch, which vcsim cannot answer for unset properties.
    spec = vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=obj, skip=False)],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(type=type(obj), pathSet=paths)])
    found = content.propertyCollector.RetrieveContents([spec])
    return {p.name: p.val for p in found[0].propSet} if found else {}


def datacenter(content: vim.ServiceInstanceContent, config: VsphereSite, context: str) -> vim.Datacenter:
    """The site's datacenter, by name (or inventory path with folders)."""
    if "/" in config.datacenter:
        found = _search(content).FindByInventoryPath(config.datacenter)
        if isinstance(found, vim.Datacenter):
            return found
    else:
        matches = [dc for dc, p in collect(content, content.rootFolder, vim.Datacenter, ["name"])
                   if p["name"] == config.datacenter]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise PermanentProviderError(f"{len(matches)} datacenters are named {config.datacenter}; give its "
                                         f"inventory path (Folder/{config.datacenter}) [{context}]")
    raise not_found(f"datacenter {config.datacenter}", context)


def cluster(content: vim.ServiceInstanceContent, dc: vim.Datacenter, config: VsphereSite,
            context: str) -> vim.ClusterComputeResource | None:
    """The site's cluster, when it names one."""
    if not config.cluster:
        return None
    for found, props in collect(content, dc.hostFolder, vim.ClusterComputeResource, ["name"]):
        if props["name"] == config.cluster:
            return found
    raise not_found(f"cluster {config.cluster} in datacenter {config.datacenter}", context)


def find_vm(content: vim.ServiceInstanceContent, dc: vim.Datacenter, ident: str,
            context: str) -> vim.VirtualMachine | None:
    """A VM of the datacenter by moid (vm-123), instance or BIOS UUID, or name; None when there is none."""
    if MOID.match(ident):
        vm = vim.VirtualMachine(ident, dc._stub)
        try:
            return vm if _datacenter_of(vm) == dc else None
        except vmodl.fault.ManagedObjectNotFound:
            return None
    if UUID.match(ident):
        for instance in (True, False):
            found = _search(content).FindByUuid(datacenter=dc, uuid=ident, vmSearch=True, instanceUuid=instance)
            if isinstance(found, vim.VirtualMachine) and _datacenter_of(found) == dc:
                return found
        return None
    named = [vm for vm, p in collect(content, dc.vmFolder, vim.VirtualMachine, ["name"]) if p["name"] == ident]
    if len(named) > 1:
        raise PermanentProviderError(f"{len(named)} VMs are named {ident}; name the machine by instance UUID or "
                                     f"moid instead [{context}]")
    return named[0] if named else None


def require_vm(content: vim.ServiceInstanceContent, dc: vim.Datacenter, ident: str, context: str) -> vim.VirtualMachine:
    """A VM that must exist."""
    vm = find_vm(content, dc, ident, context)
    if vm is None:
        raise not_found(f"VM {ident}", context, "check the machine's source_id or at.<site>.vm")
    return vm


def _datacenter_of(entity: vim.ManagedEntity | None) -> vim.Datacenter | None:
    while entity is not None and not isinstance(entity, vim.Datacenter):
        entity = entity.parent
    return entity


def tags(extra_config: list[vim.option.OptionValue] | None) -> dict[str, str]:
    """Standby's marks in a VM's extraConfig (`standby.key`, ...); the last value of a key wins, empty means unset."""
    values: dict[str, str] = {}
    for option in extra_config or []:
        if option.key.startswith(TAG):
            values[option.key[len(TAG):]] = str(option.value or "")
    return {k: v for k, v in values.items() if v}


def tag_options(**values: str) -> list[vim.option.OptionValue]:
    """extraConfig entries that set (or, with "", clear) Standby's marks."""
    return [vim.option.OptionValue(key=TAG + key, value=value) for key, value in values.items()]


def tagged_vms(content: vim.ServiceInstanceContent, dc: vim.Datacenter) -> list[tuple[vim.VirtualMachine, dict]]:
    """Every VM of the datacenter that Standby marked, with its name, power state and marks."""
    found = collect(content, dc.vmFolder, vim.VirtualMachine, ["name", "config.extraConfig", "runtime.powerState"])
    result = []
    for vm, props in found:
        marks = tags(props.get("config.extraConfig"))
        if marks:
            result.append((vm, {"name": props["name"], "power": props["runtime.powerState"], "tags": marks}))
    return result


def network(dc: vim.Datacenter, name: str, context: str) -> vim.Network:
    """A port group (distributed or standard) of the datacenter by name."""
    for candidate in dc.network:
        if candidate.name == name:
            return candidate
    raise not_found(f"port group {name} in datacenter {dc.name}", context)


def datastore(dc: vim.Datacenter, name: str, context: str) -> vim.Datastore:
    """A datastore of the datacenter by name."""
    for candidate in dc.datastore:
        if candidate.name == name:
            return candidate
    raise not_found(f"datastore {name} in datacenter {dc.name}", context)


def host(content: vim.ServiceInstanceContent, dc: vim.Datacenter, name: str, context: str) -> vim.HostSystem:
    """An ESXi host of the datacenter by name."""
    for candidate, props in collect(content, dc.hostFolder, vim.HostSystem, ["name"]):
        if props["name"] == name:
            return candidate
    raise not_found(f"host {name} in datacenter {dc.name}", context)


def resource_pool(root: vim.ResourcePool, path: str, context: str) -> vim.ResourcePool:
    """A pool by path below a cluster's root pool (`Resources/DR/Drills` or `DR/Drills`)."""
    pool, parts = root, [p for p in path.split("/") if p]
    if parts and parts[0] == root.name:
        parts = parts[1:]
    for part in parts:
        child = next((child for child in pool.resourcePool if child.name == part), None)
        if child is None:
            raise not_found(f"resource pool {path}", context)
        pool = child
    return pool


def folder(dc: vim.Datacenter, path: str, context: str) -> vim.Folder:
    """A VM folder by path below the datacenter's VM folder."""
    current = dc.vmFolder
    for part in [p for p in path.split("/") if p]:
        child = next((c for c in current.childEntity if isinstance(c, vim.Folder) and c.name == part), None)
        if child is None:
            raise not_found(f"VM folder {path} in datacenter {dc.name}", context)
        current = child
    return current
