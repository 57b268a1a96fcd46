"""A VM's network identity on vSphere: which port group each NIC joins, and guest IP customization.

Every function here blocks (pyvmomi); callers run them through `Session.run`.
"""

from collections.abc import Callable
from ipaddress import IPv4Network
from typing import cast

from pyVmomi import vim

from activities.sites.base import PermanentProviderError
from activities.sites.vsphere.inventory import config_of, network
from standby.runbook import GuestIp

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


def customization(vm: vim.VirtualMachine, ip: GuestIp, context: str) -> vim.vm.customization.Specification:
    """A fixed address on the first NIC (DHCP on any other), for a Linux guest."""
    if (config_of(vm).guestId or "").lower().startswith("win"):
        raise PermanentProviderError(f"guest IP customization of Windows guests needs a Sysprep specification, "
                                     f"which Standby does not write; re-address {vm.name} by DHCP reservation "
                                     f"[{context}]")
    count = len(nics(vm))
    if count == 0:
        raise PermanentProviderError(f"{vm.name} has no network adapter to give {ip.address} [{context}]")
    mask = str(IPv4Network(f"0.0.0.0/{ip.prefix}").netmask)
    fixed = vim.vm.customization.IPSettings(
        ip=vim.vm.customization.FixedIp(ipAddress=str(ip.address)), subnetMask=mask,
        gateway=[str(ip.gateway)] if ip.gateway else [], dnsServerList=[str(d) for d in ip.dns])
    dhcp = vim.vm.customization.IPSettings(ip=vim.vm.customization.DhcpIpGenerator())
    adapters = [vim.vm.customization.AdapterMapping(adapter=fixed)]
    adapters += [vim.vm.customization.AdapterMapping(adapter=dhcp) for _ in range(count - 1)]
    return vim.vm.customization.Specification(
        identity=vim.vm.customization.LinuxPrep(hostName=vim.vm.customization.VirtualMachineNameGenerator(),
                                                domain=ip.domain),
        globalIPSettings=vim.vm.customization.GlobalIPSettings(dnsServerList=[str(d) for d in ip.dns]),
        nicSettingMap=adapters)
