"""`standby doctor` for a site's RFC 2136 DNS: the TSIG secret, the name servers, and the key.

Checks change nothing: the key is proven by a signed SOA query, which the server verifies as it would an update
(whether its update-policy lets the key change a name only an update can tell). They never raise.
"""

import os
from collections.abc import Mapping

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.tsig

from activities.dns import tsig
from activities.dns.identity import site_dns
from activities.dns.rfc2136 import QUERY_TIMEOUT, Rfc2136, failure, hostport
from activities.sites.base import Check, ProviderError
from standby.contracts.sites import SiteRef
from standby.runbook import DnsIdentity, DnsServer


def checks(site: SiteRef, env: Mapping[str, str] = os.environ) -> list[Check]:
    """Every DNS check of one site; none for a site without a `dns` block."""
    config = site_dns(site)
    if config is None:
        return []
    found: list[Check] = []
    place = Rfc2136(site.name, config, env).describe()
    try:
        key: dns.tsig.Key | None = tsig.load(config, env, place)
        found.append(Check(site.name, "dns.tsig_key", True, f"{config.tsig_key} ({config.tsig_algorithm}) from "
                                                              f"{config.secret_variable()}"))
    except ProviderError as error:
        key = None
        found.append(Check(site.name, "dns.tsig_key", False, str(error)))
    primary = DnsServer(address=config.server, port=config.port)
    found.append(Check(site.name, "dns.server", *soa(primary, config, None, place)))
    if key is not None and found[-1].ok:
        ok, detail = soa(primary, config, key, place)
        found.append(Check(site.name, "dns.tsig", ok, f"the server accepts key {config.tsig_key}" if ok else detail))
    for index, server in enumerate(config.wait_for):
        found.append(Check(site.name, f"dns.wait_for[{index}]", *soa(server, config, None, place)))
    return found


def soa(server: DnsServer, config: DnsIdentity, key: dns.tsig.Key | None, place: str) -> tuple[bool, str]:
    """Whether `server` answers the zone's SOA with authority (signed with `key` when given), and what it said."""
    query = dns.message.make_query(config.zone, "SOA")
    query.flags &= ~dns.flags.RD
    if key is not None:
        query.use_tsig(key)
    where = hostport(server.address, server.port)
    try:
        response = dns.query.udp(query, str(server.address), timeout=QUERY_TIMEOUT, port=server.port)
    except (dns.exception.DNSException, OSError) as error:
        return False, str(failure(error, config.tsig_key, config.secret_variable(), place))
    if response.rcode() != dns.rcode.NOERROR or not response.flags & dns.flags.AA or not response.answer:
        return False, (f"{where} answers {dns.rcode.to_text(response.rcode())} without the zone's SOA: it does not "
                       f"serve zone {config.zone} (a primary or secondary of it must)")
    return True, f"{where} serves zone {config.zone} (serial {response.answer[0][0].serial})"

