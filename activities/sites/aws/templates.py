"""The EC2 launch template versions DRS launches from: the recovery version failovers use, and the drills' own.

DRS launches a source server from the *default* version of its launch template and from nothing else (StartRecovery
takes no version). A drill therefore points the default at a version of its own (the site's drill blueprint: its
subnet and security groups, no public IP, never the machine's private IP) while its launch job runs, and points it
back at the recovery version once DRS has launched. Versions are immutable, so the version failovers use is never
changed; every recovery launch first points the default back at a recovery version, so a drill that died mid-launch
cannot send a failover into the drill network. A runbook's owner runs one operation at a time, so no failover of the
runbook launches while a drill holds the default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from activities.sites.aws.clients import Api

Item = dict[str, Any]
RECOVERY = "standby blueprint"
# A drill version names the recovery version it was made from, so a drill's crash leaves the way back written down.
DRILL = "standby drill (from version {number})"
_DRILL = re.compile(r"^standby drill \(from version (\d+)\)$")
NIC_KEYS = ("DeviceIndex", "SubnetId", "Groups", "PrivateIpAddress", "AssociatePublicIpAddress")
PLACEMENT_KEYS = ("Tenancy", "HostId")
# What a drill's interface never inherits from the recovery version: it would collide with production's.
PRODUCTION_ONLY = ("PrivateIpAddress", "PrivateIpAddresses", "SecondaryPrivateIpAddressCount", "Ipv6Addresses",
                   "Ipv6AddressCount", "NetworkInterfaceId")


def drill_of(description: str | None) -> int | None:
    """The recovery version a drill version was made from; None for any other version."""
    match = _DRILL.match(description or "")
    return int(match.group(1)) if match else None


def _nics(nics: list[Item]) -> list[Item]:
    return [{k: sorted(v) if k == "Groups" else v for k, v in nic.items() if k in NIC_KEYS} for nic in nics]


def differs(current: Item, data: Item) -> bool:
    """Whether a version launches differently from `data` in a field `data` sets.

    Network interfaces and placement compare whole: a drill's interface without a private IP differs from a
    failover's with one, and a host must go when the blueprint no longer names it.
    """
    for key, value in data.items():
        have = current.get(key)
        if key == "NetworkInterfaces":
            same = _nics(have or []) == _nics(value)
        elif key == "Placement":
            same = all((have or {}).get(k) == value.get(k) for k in PLACEMENT_KEYS)
        else:
            same = have == value
        if not same:
            return True
    return False


@dataclass
class Versions:
    """Every version of one server's launch template, as EC2 lists them."""

    template: str
    items: list[Item]

    @property
    def default(self) -> Item:
        """The version DRS launches from now."""
        return next(v for v in self.items if v.get("DefaultVersion"))

    def recovery(self) -> Item:
        """The version failovers use: the default, unless a drill holds it; then the one that drill was made from."""
        held = drill_of(self.default.get("VersionDescription"))
        if held is None:
            return self.default
        made_from = [v for v in self.items if v["VersionNumber"] == held]
        ours = [v for v in self.items if drill_of(v.get("VersionDescription")) is None]
        return (made_from or sorted(ours, key=lambda v: v["VersionNumber"]) or [self.default])[-1]

    def find(self, description: str, data: Item) -> Item | None:
        """A version with this description that launches as `data` says."""
        return next((v for v in self.items if v.get("VersionDescription") == description
                     and not differs(v.get("LaunchTemplateData", {}), data)), None)


async def versions(api: Api, server: str, template: str) -> Versions:
    """The versions of a server's launch template."""
    items = await api.pages("ec2", "describe_launch_template_versions", "LaunchTemplateVersions", server,
                            LaunchTemplateId=template)
    return Versions(template=template, items=items)


async def use(api: Api, server: str, found: Versions, version: Item) -> None:
    """Make `version` the one DRS launches from (nothing to do when it already is)."""
    if found.default["VersionNumber"] != version["VersionNumber"]:
        await api.do("ec2", "modify_launch_template", server, LaunchTemplateId=found.template,
                     DefaultVersion=str(version["VersionNumber"]))


async def _create(api: Api, server: str, template: str, source: Item, data: Item, description: str) -> Item:
    created = await api.do("ec2", "create_launch_template_version", server, LaunchTemplateId=template,
                           SourceVersion=str(source["VersionNumber"]), LaunchTemplateData=data,
                           VersionDescription=description)
    return dict(created["LaunchTemplateVersion"])


async def for_recovery(api: Api, server: str, template: str, data: Item) -> None:
    """Launch recovery from a version failovers use: the recovery version, or a new one when the blueprint changed."""
    found = await versions(api, server, template)
    version = found.recovery()
    if data and differs(version.get("LaunchTemplateData", {}), data):
        version = found.find(RECOVERY, data) or await _create(api, server, template, version, data, RECOVERY)
    await use(api, server, found, version)


async def for_drill(api: Api, server: str, template: str, drill: Item) -> Item:
    """Point the default at the drill's own version (made once per recovery version and drill blueprint); the
    recovery version, which `release` points the default back at once the drill's launch job is done."""
    found = await versions(api, server, template)
    recovery = found.recovery()
    data = drill_data(recovery.get("LaunchTemplateData", {}), drill)
    description = DRILL.format(number=recovery["VersionNumber"])
    version = found.find(description, data) or await _create(api, server, template, recovery, data, description)
    await use(api, server, found, version)
    return recovery


async def release(api: Api, server: str, template: str) -> bool:
    """Point the default back at the recovery version if a drill's version holds it; True when it did."""
    found = await versions(api, server, template)
    if drill_of(found.default.get("VersionDescription")) is None:
        return False
    await use(api, server, found, found.recovery())
    return True


def drill_data(recovery: Item, drill: Item) -> Item:
    """A drill version's data: the recovery version's, with the drill's interface and none of production's addresses.

    `drill` is what the blueprint and the site's drill blueprint set (instance type, placement, one interface).
    """
    data = {k: v for k, v in drill.items() if k != "NetworkInterfaces"}
    base = dict((recovery.get("NetworkInterfaces") or [{}])[0])
    wanted = (drill.get("NetworkInterfaces") or [{}])[0]
    nic = {k: v for k, v in {**base, **wanted}.items() if k not in PRODUCTION_ONLY}
    if nic:
        data["NetworkInterfaces"] = [{**nic, "DeviceIndex": 0}]
    return data
