"""An app's network identity on AWS: a Route 53 record UPSERTed with the runbook's TTL, waited until INSYNC."""

from __future__ import annotations

import asyncio
import ipaddress

from activities.sites.aws.clients import Api
from activities.sites.aws.drs import heartbeat
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


async def upsert(api: Api, zone: str, name: str, ttl: int, values: list[str], poll: float, timeout: float) -> str:
    """Point `name` at `values` (UPSERT, so a retry is harmless) and wait until Route 53 reports INSYNC."""
    kind = record_type(values)
    change = await api.do("route53", "change_resource_record_sets", HostedZoneId=zone, ChangeBatch={
        "Comment": f"standby: {name} -> {', '.join(values)}",
        "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
            "Name": name, "Type": kind, "TTL": ttl, "ResourceRecords": [{"Value": v} for v in values]}}],
    })
    info, deadline = change["ChangeInfo"], asyncio.get_running_loop().time() + timeout
    while info["Status"] != "INSYNC":
        if asyncio.get_running_loop().time() > deadline:
            raise ProviderError(f"Route 53 change {info['Id']} for {name} still {info['Status']} [{api.describe}]")
        heartbeat(f"{name}: Route 53 change {info['Status'].lower()}")
        await asyncio.sleep(poll)
        info = (await api.do("route53", "get_change", Id=info["Id"]))["ChangeInfo"]
    return f"{name} {kind} {', '.join(values)} (TTL {ttl}s, zone {zone})"
