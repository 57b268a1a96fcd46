"""Recovery and drill targets on vSphere, idempotent on the operation key kept in each VM's extraConfig.

Recovery: the replica VM is reverted to the chosen point, re-addressed, moved
onto the site's port groups and powered on. Drill: a full clone of the chosen
point, attached only to the site's isolated port group, removed afterwards.
"""

import hashlib
from datetime import datetime
from typing import cast

from pyVmomi import vim

from activities.sites.base import PermanentProviderError
from activities.sites.vsphere import guest, inventory, points, power
from activities.sites.vsphere import network as net
from activities.sites.vsphere.vcenter import Vcenter
from standby.contracts.sites import LaunchInput, Target
from standby.runbook import VsphereSite

STOP_SECONDS = 30.0


def clone_name(vm_name: str, key: str) -> str:
    """The drill clone of a VM for one operation: `erp-db-01-drill-1a2b3c4d`."""
    return f"{vm_name}-drill-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def marks(inp: LaunchInput, now: datetime) -> dict[str, str]:
    """What a launched VM carries: the operation key, mode, machine, app and launch time."""
    return {"key": inp.key, "mode": inp.mode, "runbook": inp.site.runbook, "machine": inp.machine.name,
            "app": inp.app.name, "launched": now.isoformat()}


async def _read(vc: Vcenter, vm: vim.VirtualMachine, ident: str) -> tuple[str, dict[str, str], str, object]:
    def read(content: vim.ServiceInstanceContent) -> tuple[str, dict[str, str], str, object]:
        found = inventory.props(content, vm, ["name", "config.extraConfig", "runtime.powerState", "snapshot"])
        return (found["name"], inventory.tags(found.get("config.extraConfig")), found["runtime.powerState"],
                found.get("snapshot"))
    return await vc.run(read, "read VM", ident)


def _point(inp: LaunchInput, snapshots: object, vm: str, where: str) -> points.Point:
    if inp.point is None:
        raise PermanentProviderError(f"no recovery point given to launch {inp.machine.name} [{where}]")
    found = points.find(points.points(snapshots), inp.point.id)  # type: ignore[arg-type]
    if found is None:
        raise PermanentProviderError(f"recovery point {inp.point.id} of {vm} is gone (pruned or removed) [{where}]")
    return found


async def launch_recovery(vc: Vcenter, inp: LaunchInput, now: datetime) -> Target:
    """Revert the replica to the point, re-address it, map its networks, mark it, power it on."""
    ident = vc.vm_of(inp.machine)
    vm = await vc.vm(ident)
    name, tags, state, snapshots = await _read(vc, vm, ident)
    if tags.get("key") != inp.key:
        if state != power.OFF:
            raise PermanentProviderError(
                f"{name} is {state} at {vc.name}: recovering it would revert a running VM; stop it first "
                f"[{vc.where(name)}]")
        point = _point(inp, snapshots, name, vc.where(name))
        await vc.task(lambda _: point.snapshot.RevertToSnapshot_Task(suppressPowerOn=True), f"revert to {point.name}",
                      name)
        await _customize(vc, inp, vm, name)
        dc = await vc.datacenter()
        await _reconfigure(vc, vm, name, dc, lambda current: vc.config.networks.get(current), marks(inp, now))
    launched = await power.power_on(vc.session, vm, vc.where(name))
    return await _target(vc, inp, vm, name, launched)


async def _customize(vc: Vcenter, inp: LaunchInput, vm: vim.VirtualMachine, name: str) -> None:
    placed = inp.machine.config.at.get(vc.name)
    if placed is None or not guest.wanted(placed):
        return
    what = f"customize guest {placed.ip.address if placed.ip else inp.machine.name}"

    def customize(_: vim.ServiceInstanceContent) -> vim.Task | None:
        tools = inventory.config_of(vm).tools
        if tools and tools.pendingCustomization:
            return None  # a retry: the first try's customization is still waiting for the power-on
        return vm.CustomizeVM_Task(spec=guest.customization(vm, inp.machine.name, placed, vc.where(name)))

    task = await vc.run(customize, what, name)
    if task is not None:
        await vc.task(lambda _: task, what, name)


async def _reconfigure(vc: Vcenter, vm: vim.VirtualMachine, name: str, dc: vim.Datacenter, choose, tags: dict) -> None:
    """One ReconfigVM_Task: NICs onto the chosen port groups and Standby's marks (the marks commit the launch)."""
    def spec(_: vim.ServiceInstanceContent) -> vim.vm.ConfigSpec:
        return vim.vm.ConfigSpec(deviceChange=net.moves(vm, dc, choose, vc.where(name)),
                                 extraConfig=inventory.tag_options(**tags))
    config = await vc.run(spec, "plan reconfiguration", name)
    await vc.task(lambda _: vm.ReconfigVM_Task(spec=config), "reconfigure", name)


async def launch_test(vc: Vcenter, inp: LaunchInput, now: datetime) -> Target:
    """Clone the point into an isolated VM (once per key), attach it to the isolated port group, power it on."""
    isolated = vc.config.isolated_network
    if not isolated:
        raise PermanentProviderError(f"site {vc.name} has no isolated_network: drill clones must not join a "
                                     f"production port group [{vc.describe()}]")
    ident = vc.vm_of(inp.machine)
    source = await vc.vm(ident)
    source_name, _, _, snapshots = await _read(vc, source, ident)
    name = clone_name(source_name, inp.key)
    dc = await vc.datacenter()
    clone = await vc.find_vm(name)
    if clone is None:
        point = _point(inp, snapshots, source_name, vc.where(source_name))
        folder, spec = await vc.run(lambda content: _clone_spec(content, dc, source, vc.config, point, marks(inp, now),
                                                                vc.where(name)), "plan clone", name)
        clone = await vc.task(lambda _: source.CloneVM_Task(folder=folder, name=name, spec=spec),
                              f"clone {point.name} for a drill", name)
    else:
        _, tags, _, _ = await _read(vc, clone, name)
        if tags.get("key") != inp.key:
            raise PermanentProviderError(f"a VM named {name} exists that this drill did not make [{vc.where(name)}]")
    await _reconfigure(vc, clone, name, dc, lambda _: isolated, {})
    launched = await power.power_on(vc.session, clone, vc.where(name))
    return await _target(vc, inp, clone, name, launched)


def _clone_spec(content: vim.ServiceInstanceContent, dc: vim.Datacenter, source: vim.VirtualMachine,
                config: VsphereSite, point: points.Point, tags: dict[str, str],
                where: str) -> tuple[vim.Folder, vim.vm.CloneSpec]:
    """Where the clone goes (the site's drill placement, else beside the replica) and what it carries."""
    # A VM's parent is its VM folder (pyVmomi types it as any entity), as a cluster always has a root pool.
    folder = inventory.folder(dc, config.folder, where) if config.folder else cast(vim.Folder, source.parent)
    pool = source.resourcePool
    if config.resource_pool:
        cluster = inventory.cluster(content, dc, config, where)
        if cluster is None:
            raise PermanentProviderError(f"resource_pool {config.resource_pool} needs the site's cluster [{where}]")
        pool = inventory.resource_pool(cast(vim.ResourcePool, cluster.resourcePool), config.resource_pool, where)
    store = inventory.datastore(dc, config.datastore, where) if config.datastore else None
    # A full clone: the drill VM must not depend on a snapshot that retention may prune meanwhile.
    marked = vim.vm.ConfigSpec(extraConfig=inventory.tag_options(**tags))
    spec = vim.vm.CloneSpec(location=vim.vm.RelocateSpec(pool=pool, datastore=store), powerOn=False, template=False,
                            snapshot=point.snapshot, config=marked)
    return folder, spec


async def _target(vc: Vcenter, inp: LaunchInput, vm: vim.VirtualMachine, name: str, launched: bool) -> Target:
    placed = inp.machine.config.at.get(vc.name)
    address = await vc.run(lambda _: vm.guest.ipAddress if vm.guest else None, "read guest IP", name)
    if not address and placed and placed.ip:
        address = str(placed.ip.address)
    point = inp.point.id if inp.point else None
    return Target(key=inp.key, machine=inp.machine.name, app=inp.app.name, site=vc.name, mode=inp.mode,
                  target_id=name, address=address or None, point_id=point, launched=launched)


def _chosen(tags: dict[str, str], key: str | None, prefix: str | None, apps: list[str] | None) -> bool:
    """Whether a VM's marks put it under the key (or prefix) and, when apps are named, under one of them."""
    mark = tags.get("key", "")
    under = bool(mark) and (mark == key or (prefix is not None and mark.startswith(prefix)))
    return under and (apps is None or tags.get("app") in apps)


async def terminate(vc: Vcenter, key: str | None, prefix: str | None, apps: list[str] | None = None) -> list[str]:
    """Remove what was launched under a key (or key prefix; of some apps only), newest first: drill clones destroyed,
    replicas stopped."""
    dc = await vc.datacenter()
    marked = await vc.run(lambda content: inventory.tagged_vms(content, dc), "list VMs Standby launched")
    chosen = [(vm, info) for vm, info in marked if _chosen(info["tags"], key, prefix, apps)]
    chosen.sort(key=lambda item: item[1]["tags"].get("launched", ""), reverse=True)
    removed = []
    for vm, info in chosen:
        name = info["name"]
        # The defaults bind this iteration's values; mypy cannot type such a lambda (python/mypy#15459).
        if info["tags"].get("mode") == "test":
            await power.power_off(vc.session, vm, vc.where(name))
            await vc.task(lambda _, vm=vm: vm.Destroy_Task(), "destroy drill clone", name)  # type: ignore[misc]
        else:
            await power.shut_down(vc.session, vm, STOP_SECONDS, vc.where(name))
            await vc.task(lambda _, vm=vm: vm.ReconfigVM_Task(spec=vim.vm.ConfigSpec(  # type: ignore[misc]
                extraConfig=inventory.tag_options(key="", mode=""))), "unmark", name)
        removed.append(name)
    return removed
