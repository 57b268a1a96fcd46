"""`standby doctor` for a vSphere site: credentials, TLS, login, inventory the runbook names, the account's privileges.

Checks block (pyvmomi) and never raise: each says what it found and, when it fails, what to change.
"""

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from pyVmomi import vim

from activities.sites.base import Check, ProviderError
from activities.sites.vsphere import inventory
from activities.sites.vsphere.session import POOL, SessionPool, credentials
from activities.sites.vsphere.vcenter import Vcenter
from standby.contracts.sites import SiteRef
from standby.runbook import VsphereSite

# What the worker's vCenter account needs on the site's datacenter (propagated), and why.
PRIVILEGES: dict[str, str] = {
    "System.View": "read the inventory",
    "VirtualMachine.State.CreateSnapshot": "take recovery points",
    "VirtualMachine.State.RemoveSnapshot": "prune recovery points",
    "VirtualMachine.State.RevertToSnapshot": "fail over to a recovery point",
    "VirtualMachine.Interact.PowerOn": "start recovered VMs and apps",
    "VirtualMachine.Interact.PowerOff": "guest shutdown and power off",
    "VirtualMachine.Interact.Reset": "reset remediation",
    "VirtualMachine.Config.AdvancedConfig": "mark launched VMs (extraConfig)",
    "VirtualMachine.Config.EditDevice": "move NICs to mapped or isolated port groups",
    "VirtualMachine.Provisioning.Clone": "clone drill VMs",
    "VirtualMachine.Provisioning.Customize": "guest IP customization",
    "VirtualMachine.Inventory.CreateFromExisting": "register drill clones",
    "VirtualMachine.Inventory.Delete": "remove drill clones",
    "Resource.AssignVMToPool": "place drill clones in a resource pool",
    "Resource.HotMigrate": "vMotion and Storage vMotion remediation",
    "Resource.ColdMigrate": "move powered-off VMs",
    "Datastore.AllocateSpace": "drill clones and Storage vMotion",
    "Network.Assign": "attach NICs to port groups",
}


def doctor_checks(site: SiteRef, sessions: SessionPool = POOL) -> list[Check]:
    """Everything this worker needs to drive a vSphere site, checked against its vCenter."""
    if not isinstance(site.config, VsphereSite):
        return [Check(site.name, "provider", False, "not a vsphere site")]
    config, checks = site.config, []

    def add(name: str, ok: bool, detail: str) -> bool:
        checks.append(Check(site.name, name, ok, detail))
        return ok

    if not add(*_credentials(config)):
        return checks
    add("tls", config.protocol == "https" and not config.insecure, _tls(config))
    vc = Vcenter(site.name, config, sessions)
    try:
        about = vc.session.call(lambda content: content.about.fullName, "log in", vc.describe())
        add("login", True, f"{vc.session.creds.user} on {about}")
        dc = vc.session.call(lambda content: inventory.datacenter(content, config, vc.describe()), "find datacenter",
                             vc.describe())
    except ProviderError as error:
        add("login", False, str(error))
        return checks
    for name, ok, detail in _inventory(vc, dc) + [_privileges(vc, dc)]:
        add(name, ok, detail)
    return checks


def _credentials(config: VsphereSite) -> tuple[str, bool, str]:
    try:
        creds = credentials(config)
    except ProviderError as error:
        return "credentials", False, str(error)
    if config.credentials_file:
        mode = stat.S_IMODE(Path(config.credentials_file).stat().st_mode)
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            return "credentials", False, f"{config.credentials_file} is readable by others ({oct(mode)}): chmod 600"
    source = config.credentials_file or "VSPHERE_USER / VSPHERE_PASSWORD"
    return "credentials", True, f"user {creds.user} from {source}"


def _tls(config: VsphereSite) -> str:
    if config.protocol == "http":
        return "plain HTTP: only for the vcsim simulator"
    if config.insecure:
        return "certificate NOT verified (insecure: true); give the site a ca_file instead"
    return f"certificate verified against {config.ca_file or 'the system CAs'}"


def _inventory(vc: Vcenter, dc: vim.Datacenter) -> list[tuple[str, bool, str]]:
    """Every inventory name the site declares exists."""
    config, where = vc.config, vc.describe()
    # Each finds a named inventory object or raises; pyVmomi's objects are typed only loosely.
    lookups: list[tuple[str, Callable[[vim.ServiceInstanceContent], Any]]] = []
    isolated, store, folder = config.isolated_network, config.datastore, config.folder
    if config.cluster:
        lookups.append(("cluster", lambda content: inventory.cluster(content, dc, config, where)))
    if isolated:
        lookups.append(("isolated_network", lambda _: inventory.network(dc, isolated, where)))
    if store:
        lookups.append(("datastore", lambda _: inventory.datastore(dc, store, where)))
    if folder:
        lookups.append(("folder", lambda _: inventory.folder(dc, folder, where)))
    for source, target in config.networks.items():
        # The default binds this iteration's target; mypy cannot type such a lambda (python/mypy#15459).
        lookups.append((f"networks.{source}",
                        lambda _, target=target: inventory.network(dc, target, where)))  # type: ignore[misc]
    found = []
    for name, look_up in lookups:
        try:
            obj = vc.session.call(look_up, f"find {name}", where)
            found.append((name, True, f"{obj.name} in datacenter {config.datacenter}"))
        except ProviderError as error:
            found.append((name, False, str(error)))
    return found


def _privileges(vc: Vcenter, dc: vim.Datacenter) -> tuple[str, bool, str]:
    """The account's privileges on the datacenter; names what is missing and why it is needed."""
    def fetch(content: vim.ServiceInstanceContent) -> list[str]:
        # pyVmomi types the service content's managers optional; a vCenter has them all.
        result = cast(vim.AuthorizationManager, content.authorizationManager).HasUserPrivilegeOnEntities(
            entities=[dc], userName=vc.session.creds.user, privId=list(PRIVILEGES))
        return [p.privId for p in result[0].privAvailability if not p.isGranted]
    try:
        missing = vc.session.call(fetch, "read privileges", vc.describe())
    except ProviderError as error:
        return "privileges", False, f"cannot read them: {error}"
    if missing:
        return "privileges", False, f"missing on datacenter {vc.config.datacenter}: " + "; ".join(
            f"{p} ({PRIVILEGES[p]})" for p in missing)
    return "privileges", True, f"all {len(PRIVILEGES)} granted on datacenter {vc.config.datacenter}"
