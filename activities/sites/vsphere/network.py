"""A VM's network identity on vSphere: which port group each NIC joins (guest customization is in guest.py).

Every function here blocks (pyvmomi); callers run them through `Session.run`.
"""

from collections.abc import Callable
from typing import cast

from pyVmomi import vim

from activities.sites.vsphere.inventory import config_of, network

Nic = vim.vm.device.VirtualEthernetCard


def nics(vm: vim.VirtualMachine) -> list[Nic]:
    """The VM's network adapters, in device order."""
    return [d for d in config_of(vm).hardware.device if isinstance(d, Nic)]


def network_names(dc: vim.Datacenter) -> dict[str, str]:
    """Distributed port group keys -> names, to name what a NIC is connected to."""
    return {n.key: n.name for n in dc.network if isinstance(n, vim.dvs.DistributedVirtualPortgroup)}


def nic_network(nic: Nic, keys: dict[str, str]) -> str:
    """The port group a NIC is on, by name."""
    backing = nic.backing
    if isinstance(backing, Nic.DistributedVirtualPortBackingInfo):
        key = cast(str, backing.port.portgroupKey)  # a connection to a distributed port always names its group
        return keys.get(key, key)
    return getattr(backing, "deviceName", "") or ""


def backing(target: vim.Network) -> vim.vm.device.VirtualDevice.BackingInfo:
    """The NIC backing that connects to a port group (distributed, standard or NSX opaque)."""
    if isinstance(target, vim.dvs.DistributedVirtualPortgroup):
        # A distributed port group always belongs to a switch, an opaque network's summary is of its own kind;
        # pyVmomi's types say neither.
        switch = cast(vim.DistributedVirtualSwitch, target.config.distributedVirtualSwitch)
        return Nic.DistributedVirtualPortBackingInfo(
            port=vim.dvs.PortConnection(portgroupKey=target.key, switchUuid=switch.uuid))
    if isinstance(target, vim.OpaqueNetwork):
        summary = cast(vim.OpaqueNetwork.Summary, target.summary)
        return Nic.OpaqueNetworkBackingInfo(opaqueNetworkId=summary.opaqueNetworkId,
                                            opaqueNetworkType=summary.opaqueNetworkType)
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

