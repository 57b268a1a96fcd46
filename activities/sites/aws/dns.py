"""An app's network identity on AWS: a Route 53 record UPSERTed with the runbook's TTL, waited until INSYNC.

The record changes with its fencing epoch record in one batch (`fencing.guarded_change`).
"""

from __future__ import annotations

import asyncio
import ipaddress

from activities.sites.aws.clients import Api
from activities.sites.aws.drs import heartbeat
from activities.sites.aws.fencing import guarded_change
from activities.sites.base import PermanentProviderError, ProviderError


def record_type(values: list[str]) -> str:
    """A for IPv4 addresses, AAAA for IPv6, CNAME for one host name."""
    kinds = set()
    for value in values:
        try:
            kinds.add("A" if ipaddress.ip_address(value).version == 4 else "AAAA")
        except ValueError:
            kinds.add("CNAME")
    if len(kinds) != 1 or (kinds == {"CNAME"} and len(values) != 1):
        raise PermanentProviderError(f"cannot point one record at {', '.join(values)}: mixed kinds of address")
    return kinds.pop()


async def upsert(api: Api, zone: str, name: str, ttl: int, values: list[str], poll: float, timeout: float,
                 epoch: int) -> str:
    """Point `name` at `values` (UPSERT, so a retry is harmless) under the fencing epoch, wait until INSYNC."""
    kind = record_type(values)
    changes = [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": name, "Type": kind, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}}]
    change = await guarded_change(api, zone, name, epoch, changes, f"standby: {name} -> {', '.join(values)}")
    info, deadline = change["ChangeInfo"], asyncio.get_running_loop().time() + timeout
    while info["Status"] != "INSYNC":
        if asyncio.get_running_loop().time() > deadline:
            raise ProviderError(f"Route 53 change {info['Id']} for {name} still {info['Status']} [{api.describe}]")
        heartbeat(f"{name}: Route 53 change {info['Status'].lower()}")
        await asyncio.sleep(poll)
        info = (await api.do("route53", "get_change", Id=info["Id"]))["ChangeInfo"]
    return f"{name} {kind} {', '.join(values)} (TTL {ttl}s, zone {zone})"
