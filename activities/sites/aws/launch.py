"""A machine's blueprint applied to its DRS launch settings and to the EC2 launch template DRS launches from.

A recovery launches from the recovery version of the server's launch template (a new one only when the blueprint
differs from it); a drill from the drills' own version, with the site's drill blueprint (`templates.py` says how the
two never meet). Applying the same blueprint twice (a retried launch) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from activities.sites.aws import templates
from activities.sites.aws.clients import Api
from standby.runbook import Blueprint, DrillBlueprint

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


def drill_request(blueprint: Blueprint | None, drill: DrillBlueprint | None) -> dict[str, Any]:
    """What a drill's version sets: the blueprint without its private IP, in the drill blueprint's network."""
    data = template_data(blueprint, "test") if blueprint else {}
    if drill is None:
        return data
    nic = dict((data.get("NetworkInterfaces") or [{}])[0])
    if drill.subnet:
        nic["SubnetId"] = drill.subnet
    if drill.security_groups:
        nic["Groups"] = list(drill.security_groups)
    nic["AssociatePublicIpAddress"] = drill.public_ip
    data["NetworkInterfaces"] = [{**nic, "DeviceIndex": 0}]
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


@dataclass(frozen=True)
class Launch:
    """One source server about to launch: its blueprint, the mode, the instance it launches into, the drill network."""

    server: str
    blueprint: Blueprint | None
    mode: str
    into: str | None = None
    drill: DrillBlueprint | None = None


async def _configure(api: Api, launch: Launch) -> str:
    """Make the server's DRS launch configuration match (fields not wanted stay as they are); its template's id."""
    wanted = configuration(launch.blueprint, launch.into)
    current = await api.do("drs", "get_launch_configuration", launch.server, sourceServerID=launch.server)
    if any(current.get(key) != value for key, value in wanted.items()):
        await api.do("drs", "update_launch_configuration", launch.server, sourceServerID=launch.server, **wanted)
    return str(current["ec2LaunchTemplateID"])


async def prepare(api: Api, launches: list[Launch]) -> list[tuple[str, str]]:
    """Launch settings and template versions for these launches; the (server, template) pairs a drill now holds.

    DRS makes one template per source server; servers that share one get the first one's version.
    """
    by_template: dict[str, Launch] = {}
    for launch in launches:
        by_template.setdefault(await _configure(api, launch), launch)
    held = []
    for template, launch in by_template.items():
        if launch.mode == "test":
            await templates.for_drill(api, launch.server, template, drill_request(launch.blueprint, launch.drill))
            held.append((launch.server, template))
        else:
            data = template_data(launch.blueprint, "recovery") if launch.blueprint else {}
            await templates.for_recovery(api, launch.server, template, data)
    return held


async def release(api: Api, held: list[tuple[str, str]]) -> None:
    """Point each template a drill held back at its recovery version (the drill's launch job is done)."""
    for server, template in held:
        await templates.release(api, server, template)
