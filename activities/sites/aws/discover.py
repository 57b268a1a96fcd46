"""`standby discover` on an AWS site: the Elastic Disaster Recovery source servers replicating into its region.

It runs in the command, with this machine's AWS credentials, like `standby doctor`. Source servers that reverse
replication created (direction FAILBACK) are the way back of machines already listed, so they are left out.
"""

import asyncio

from activities.sites.aws import drs
from activities.sites.aws.clients import Api, AwsClients, connect
from standby.contracts.sites import SiteRef
from standby.discovery import Discovered, Filters
from standby.runbook import AwsSite


def discover(site: SiteRef, filters: Filters, clients: AwsClients | None = None) -> list[Discovered]:
    """The region's source servers that carry every `filters.tags` tag; `clients` is a seam for tests."""
    assert isinstance(site.config, AwsSite)
    api = Api(clients or connect(site), f"site={site.name}, region={site.config.region}")
    servers = asyncio.run(drs.all_servers(api))
    found = [_discovered(s) for s in servers if s.get("replicationDirection") != "FAILBACK"
             and all(drs.tags_of(s).get(k) == v for k, v in filters.tags.items())]
    return sorted(found, key=lambda m: m.name)


def _discovered(server: drs.Item) -> Discovered:
    hints = server.get("sourceProperties", {}).get("identificationHints", {})
    ident = server["sourceServerID"]
    name = drs.tags_of(server).get("Name") or hints.get("hostname") or ident
    state = server.get("dataReplicationInfo", {}).get("dataReplicationState", "unknown replication")
    os = server.get("sourceProperties", {}).get("os", {}).get("fullString", "")
    seen = [ident, state.lower(), *([hints["fqdn"]] if hints.get("fqdn") else []), *([os] if os else [])]
    return Discovered(name=name, source_id=ident, detail=", ".join(seen), windows=os.lower().startswith("windows"),
                      todo="blueprint (machine_type, subnet, security_groups); source: onprem if it runs outside AWS")
