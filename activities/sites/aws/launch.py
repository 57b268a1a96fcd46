"""A machine's blueprint applied to its DRS launch settings and to the EC2 launch template DRS launches from.

DRS launches each source server from the *default* version of the EC2 launch template it made for that server.
Standby writes a new version only when the blueprint differs from it, and makes that version the default, so
applying the same blueprint twice (a retried launch) changes nothing.
"""

from __future__ import annotations

from typing import Any

from activities.sites.aws.clients import Api
from standby.runbook import Blueprint

TENANCY = {"on-demand": "default", "dedicated-instance": "dedicated", "dedicated-host": "host"}


def template_data(blueprint: Blueprint, mode: str) -> dict[str, Any]:
    """The launch template data a blueprint asks for.

    A drill launches without the blueprint's private IP: its instance must never collide with a production
    instance that holds that address (after a failover, or at the source of an in-AWS failback).
    """
    data: dict[str, Any] = {}
    if blueprint.machine_type:
        data["InstanceType"] = blueprint.machine_type
    nic: dict[str, Any] = {}
    if blueprint.subnet:
        nic["SubnetId"] = blueprint.subnet
    if blueprint.security_groups:
        nic["Groups"] = list(blueprint.security_groups)
    if blueprint.private_ip and mode == "recovery":
        nic["PrivateIpAddress"] = str(blueprint.private_ip)
    if nic:
        data["NetworkInterfaces"] = [{"DeviceIndex": 0, **nic}]
    placement = {"Tenancy": TENANCY[blueprint.launch_type]}
    if blueprint.host:
        placement["HostId"] = blueprint.host
    data["Placement"] = placement
    return data


def configuration(blueprint: Blueprint | None, launch_into: str | None) -> dict[str, Any]:
    """The DRS launch configuration a launch needs: the blueprint's instance type as written, started instances."""
    wanted: dict[str, Any] = {}
    if blueprint is not None:
        wanted["launchDisposition"] = "STARTED"
        wanted["copyPrivateIp"] = False
        if blueprint.machine_type:
            wanted["targetInstanceTypeRightSizingMethod"] = "NONE"
    if launch_into:
        wanted["launchIntoInstanceProperties"] = {"launchIntoEC2InstanceID": launch_into}
    return wanted


NIC_KEYS = ("DeviceIndex", "SubnetId", "Groups", "PrivateIpAddress")
PLACEMENT_KEYS = ("Tenancy", "HostId")


def _differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether the launch configuration differs in a wanted field (fields not wanted are left as they are)."""
    return any(current.get(key) != value for key, value in wanted.items())


def _nics(nics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: sorted(v) if k == "Groups" else v for k, v in nic.items() if k in NIC_KEYS} for nic in nics]


def _template_differs(current: dict[str, Any], data: dict[str, Any]) -> bool:
    """Whether the template's default version launches differently from `data`.

    Network interfaces and placement compare whole: a drill's version without a private IP must differ from a
    failover's version with one, and a host must go when the blueprint no longer names it.
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


async def apply(api: Api, server: str, blueprint: Blueprint | None, mode: str, launch_into: str | None = None) -> bool:
    """Make the server's launch settings match the blueprint; True when anything had to change."""
    wanted = configuration(blueprint, launch_into)
    if not wanted:
        return False
    current = await api.do("drs", "get_launch_configuration", server, sourceServerID=server)
    changed = False
    if _differs(current, wanted):
        await api.do("drs", "update_launch_configuration", server, sourceServerID=server, **wanted)
        changed = True
    if blueprint is not None:
        changed |= await _template(api, server, current["ec2LaunchTemplateID"], template_data(blueprint, mode))
    return changed


async def _template(api: Api, server: str, template: str, data: dict[str, Any]) -> bool:
    versions = await api.do("ec2", "describe_launch_template_versions", server, LaunchTemplateId=template,
                            Versions=["$Default"])
    current = versions["LaunchTemplateVersions"][0].get("LaunchTemplateData", {})
    if not _template_differs(current, data):
        return False
    created = await api.do("ec2", "create_launch_template_version", server, LaunchTemplateId=template,
                           SourceVersion="$Default", LaunchTemplateData=data,
                           VersionDescription="standby blueprint")
    number = str(created["LaunchTemplateVersion"]["VersionNumber"])
    await api.do("ec2", "modify_launch_template", server, LaunchTemplateId=template, DefaultVersion=number)
    return True
