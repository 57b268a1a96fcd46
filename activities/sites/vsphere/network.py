"""A VM's network identity on vSphere: which port group each NIC joins (guest customization is in guest.py).

Every function here blocks (pyvmomi); callers run them through `Session.run`.
"""

from collections.abc import Callable

from pyVmomi import vim

from activities.sites.vsphere.inventory import network

Nic = vim.vm.device.VirtualEthernetCard


def nics(vm: vim.VirtualMachine) -> list[Nic]:
    """The VM's network adapters, in device order."""
    return [d for d in vm.config.hardware.device if isinstance(d, Nic)]


def network_names(dc: vim.Datacenter) -> dict[str, str]:
    """Distributed port group keys -> names, to name what a NIC is connected to."""
    return {n.key: n.name for n in dc.network if isinstance(n, vim.dvs.DistributedVirtualPortgroup)}


def nic_network(nic: Nic, keys: dict[str, str]) -> str:
    """The port group a NIC is on, by name."""
    backing = nic.backing
    if isinstance(backing, Nic.DistributedVirtualPortBackingInfo):
        return keys.get(backing.port.portgroupKey, backing.port.portgroupKey)
    return getattr(backing, "deviceName", "") or ""


def backing(target: vim.Network) -> vim.vm.device.VirtualDevice.BackingInfo:
    """The NIC backing that connects to a port group (distributed, standard or NSX opaque)."""
    if isinstance(target, vim.dvs.DistributedVirtualPortgroup):
        switch = target.config.distributedVirtualSwitch
        return Nic.DistributedVirtualPortBackingInfo(
            port=vim.dvs.PortConnection(portgroupKey=target.key, switchUuid=switch.uuid))
    if isinstance(target, vim.OpaqueNetwork):
        return Nic.OpaqueNetworkBackingInfo(opaqueNetworkId=target.summary.opaqueNetworkId,
                                            opaqueNetworkType=target.summary.opaqueNetworkType)
    return Nic.NetworkBackingInfo(deviceName=target.name, network=target)


def moves(vm: vim.VirtualMachine, dc: vim.Datacenter, choose: Callable[[str], str | None],
          context: str) -> list[vim.vm.device.VirtualDeviceSpec]:
    """Device edits that put each NIC on the port group `choose(current port group)` names (None: leave it)."""
    keys, changes = network_names(dc), []
    for nic in nics(vm):
        current = nic_network(nic, keys)
        wanted = choose(current)
        if wanted is None or wanted == current:
            continue
        nic.backing = backing(network(dc, wanted, context))
        nic.connectable = vim.vm.device.VirtualDevice.ConnectInfo(startConnected=True, connected=True,
                                                                  allowGuestControl=True)
        changes.append(vim.vm.device.VirtualDeviceSpec(operation="edit", device=nic))
    return changes

