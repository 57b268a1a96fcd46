"""Guest customization of a recovered VM: its address (fixed on the first NIC, DHCP on the others) and its identity,
LinuxPrep for Linux guests and Sysprep for Windows guests.

A Windows guest is one whose `at.<site>.guest_os` says so, else whose guestId starts with "win". Its passwords come
from the worker's environment when the spec is built and go to the vCenter alone: never into a message or a log.
Every function here blocks (pyvmomi); callers run them through `Session.run`.
"""

import os
import re
from collections.abc import Mapping
from ipaddress import IPv4Network

from pyVmomi import vim

from activities.sites.base import PermanentProviderError
from activities.sites.vsphere.network import nics
from standby.runbook import FromEnv, GuestIp, MachineAt, WindowsIdentity

Custom = vim.vm.customization
NETBIOS = re.compile(r"^[A-Za-z0-9-]{1,15}$")


def wanted(at: MachineAt | None) -> bool:
    """Whether a machine is customized when recovered at a site: it has an address or a Windows identity there."""
    return at is not None and (at.ip is not None or at.windows is not None or at.guest_os == "windows")


def is_windows(vm: vim.VirtualMachine, at: MachineAt) -> bool:
    """The runbook's `guest_os` when given, else the VM's guestId."""
    if at.guest_os is not None:
        return at.guest_os == "windows"
    return ((vm.config.guestId if vm.config else None) or "").lower().startswith("win")


def customization(vm: vim.VirtualMachine, machine: str, at: MachineAt, context: str,
                  env: Mapping[str, str] = os.environ) -> Custom.Specification:
    """The specification that re-addresses and renames the guest (Sysprep or LinuxPrep)."""
    count = len(nics(vm))
    if count == 0:
        raise PermanentProviderError(f"{vm.name} has no network adapter to customize [{context}]")
    ip = at.ip
    adapters = [Custom.AdapterMapping(adapter=_fixed(ip) if ip and index == 0 else _dhcp()) for index in range(count)]
    dns = [str(d) for d in ip.dns] if ip else []
    identity: Custom.IdentitySettings
    if is_windows(vm, at):
        identity = sysprep(machine, at.windows or WindowsIdentity(), env, context)
    else:
        identity = Custom.LinuxPrep(hostName=Custom.VirtualMachineNameGenerator(),
                                    domain=ip.domain if ip else "localdomain")
    return Custom.Specification(identity=identity, globalIPSettings=Custom.GlobalIPSettings(dnsServerList=dns),
                                nicSettingMap=adapters)


def _fixed(ip: GuestIp) -> Custom.IPSettings:
    mask = str(IPv4Network(f"0.0.0.0/{ip.prefix}").netmask)
    return Custom.IPSettings(ip=Custom.FixedIp(ipAddress=str(ip.address)), subnetMask=mask,
                             gateway=[str(ip.gateway)] if ip.gateway else [], dnsServerList=[str(d) for d in ip.dns],
                             dnsDomain=ip.domain)


def _dhcp() -> Custom.IPSettings:
    return Custom.IPSettings(ip=Custom.DhcpIpGenerator())


def sysprep(machine: str, windows: WindowsIdentity, env: Mapping[str, str], context: str) -> Custom.Sysprep:
    """Sysprep identity: the computer name, the Administrator's password, a workgroup or a domain to join."""
    name = windows.computer_name or machine
    if not NETBIOS.match(name):
        raise PermanentProviderError(f"'{name}' cannot be a Windows computer name (letters, digits and '-', 15 at "
                                     f"most): set windows.computer_name of machine {machine} at this site [{context}]")
    if windows.domain:
        assert windows.domain_password is not None  # the runbook model requires it with a domain
        joins = Custom.Identification(joinDomain=windows.domain, domainAdmin=windows.domain_user,
                                      domainAdminPassword=_password(windows.domain_password, "domain_password", env,
                                                                    context))
    else:
        joins = Custom.Identification(joinWorkgroup=windows.workgroup or "WORKGROUP")
    unattended = Custom.GuiUnattended(password=_password(windows.admin_password, "admin_password", env, context),
                                      timeZone=windows.time_zone, autoLogon=False, autoLogonCount=0)
    user = Custom.UserData(fullName="Administrator", orgName=windows.organization,
                           computerName=Custom.FixedName(name=name), productId="")
    return Custom.Sysprep(guiUnattended=unattended, userData=user, identification=joins)


def _password(source: FromEnv, field: str, env: Mapping[str, str], context: str) -> Custom.Password:
    value = env.get(source.from_env, "")
    if not value:
        raise PermanentProviderError(f"Windows customization needs {field}: the worker's environment has no "
                                     f"{source.from_env}; set it on the worker of this site [{context}]")
    return Custom.Password(value=value, plainText=True)
