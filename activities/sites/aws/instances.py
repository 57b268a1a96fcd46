"""EC2 instances of a runbook's machines: found by Standby's tags, tagged, started, stopped, addressed.

A machine's instance at a site carries `standby:runbook` and `standby:machine`. Standby tags every instance it
launches (with `standby:key` and `standby:mode` too); the original instances of machines whose source is EC2 are
tagged once by whoever sets up protection (`standby doctor` lists machines without one).
"""

from __future__ import annotations

import asyncio
from typing import Any

from activities.sites.aws.clients import Api
from activities.sites.aws.drs import MACHINE, MODE, RUNBOOK, chunks, tags_of
from activities.sites.base import ProviderError

LIVE = ["pending", "running", "stopping", "stopped"]
# Not gone yet: a terminated instance counts as gone (EC2 lists it for a while), one shutting down does not.
NOT_GONE = [*LIVE, "shutting-down"]
Item = dict[str, Any]


async def by_ids(api: Api, ids: list[str]) -> dict[str, Item]:
    """Instances by id."""
    found: dict[str, Item] = {}
    for part in chunks(sorted(set(ids))):
        for reservation in await api.pages("ec2", "describe_instances", "Reservations", InstanceIds=part):
            found.update({i["InstanceId"]: i for i in reservation["Instances"]})
    return found


async def of_machine(api: Api, runbook: str, machine: str, test: bool = False) -> list[Item]:
    """Live instances of a machine at this site: production ones, or a drill's when `test`."""
    filters = [{"Name": f"tag:{RUNBOOK}", "Values": [runbook]}, {"Name": f"tag:{MACHINE}", "Values": [machine]},
               {"Name": "instance-state-name", "Values": LIVE}]
    reservations = await api.pages("ec2", "describe_instances", "Reservations", Filters=filters)
    found = [i for r in reservations for i in r["Instances"]]
    return [i for i in found if (tags_of(i).get(MODE) == "test") == test]


async def tagged(api: Api, runbook: str, tag: str, key: str | None, prefix: str | None) -> list[Item]:
    """Live instances of the runbook whose `tag` is `key` or starts with `prefix`."""
    values = [v for v in (key, f"{prefix}*" if prefix else None) if v]
    if not values:
        return []
    filters = [{"Name": f"tag:{RUNBOOK}", "Values": [runbook]}, {"Name": f"tag:{tag}", "Values": values},
               {"Name": "instance-state-name", "Values": LIVE}]
    reservations = await api.pages("ec2", "describe_instances", "Reservations", Filters=filters)
    return [i for r in reservations for i in r["Instances"]]


async def alive(api: Api, ids: list[str]) -> list[Item]:
    """The live instances among these ids (an id EC2 no longer lists is simply absent)."""
    found: list[Item] = []
    for part in chunks(sorted(set(ids))):
        filters = [{"Name": "instance-id", "Values": part}, {"Name": "instance-state-name", "Values": LIVE}]
        reservations = await api.pages("ec2", "describe_instances", "Reservations", Filters=filters)
        found += [i for r in reservations for i in r["Instances"]]
    return found


def address(instance: Item) -> str | None:
    """The instance's private IPv4 address (what the app's DNS name points at inside the VPC)."""
    return instance.get("PrivateIpAddress") or instance.get("PublicIpAddress")


async def tag(api: Api, tags: dict[str, dict[str, str]]) -> None:
    """Put each instance's tags on it (idempotent): shared tags in calls of 200, the rest a few calls at a time."""
    shared = dict(set.intersection(*(set(t.items()) for t in tags.values()))) if tags else {}
    calls = [(part, shared) for part in chunks(sorted(tags))] if shared else []
    for ident, own in tags.items():
        if rest := {k: v for k, v in own.items() if k not in shared}:
            calls.append(([ident], rest))
    slots = asyncio.Semaphore(8)

    async def one(ids: list[str], values: dict[str, str]) -> None:
        async with slots:
            await api.do("ec2", "create_tags", Resources=ids, Tags=[{"Key": k, "Value": v} for k, v in values.items()])

    await asyncio.gather(*(one(ids, values) for ids, values in calls))


async def wait_state(api: Api, ids: list[str], state: str, poll: float, timeout: float) -> dict[str, Item]:
    """Wait until every instance is in `state` (terminated ones count as stopped); the instances then."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await by_ids(api, ids)
        names = {i: found[i]["State"]["Name"] for i in ids if i in found}
        if all(n == state or (state == "stopped" and n == "terminated") for n in names.values()):
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise ProviderError(f"instances not {state} after {timeout:.0f}s: "
                                + ", ".join(f"{i} {n}" for i, n in names.items() if n != state) + f" [{api.describe}]")
        await asyncio.sleep(poll)


async def stop(api: Api, ids: list[str], poll: float, timeout: float) -> None:
    """Stop instances and wait until they are stopped."""
    for part in chunks(sorted(set(ids))):
        await api.do("ec2", "stop_instances", InstanceIds=part)
    await wait_state(api, ids, "stopped", poll, timeout)


async def start(api: Api, ids: list[str], poll: float, timeout: float) -> dict[str, Item]:
    """Start instances and wait until they run; the running instances."""
    for part in chunks(sorted(set(ids))):
        await api.do("ec2", "start_instances", InstanceIds=part)
    return await wait_state(api, ids, "running", poll, timeout)


async def terminate(api: Api, ids: list[str]) -> None:
    """Terminate instances through EC2 (those Elastic Disaster Recovery no longer knows)."""
    for part in chunks(sorted(set(ids))):
        await api.do("ec2", "terminate_instances", InstanceIds=part)


async def wait_gone(api: Api, ids: list[str], poll: float, timeout: float) -> None:
    """Wait until EC2 lists none of the instances as alive (terminated, or not listed at all)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        alive: list[str] = []
        for part in chunks(sorted(set(ids))):
            filters = [{"Name": "instance-id", "Values": part}, {"Name": "instance-state-name", "Values": NOT_GONE}]
            reservations = await api.pages("ec2", "describe_instances", "Reservations", Filters=filters)
            alive += [f"{i['InstanceId']} {i['State']['Name']}" for r in reservations for i in r["Instances"]]
        if not alive:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise ProviderError(f"instances not terminated after {timeout:.0f}s: {', '.join(alive)} [{api.describe}]")
        await asyncio.sleep(poll)
