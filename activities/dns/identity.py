"""An app's DNS record at a site that is not on Route 53: which addresses it points to, and moving it there."""

import os
from collections.abc import Mapping

from activities.dns.rfc2136 import Rfc2136
from activities.sites.base import ProviderError
from standby.contracts.sites import AppRef, SiteRef
from standby.runbook import DnsIdentity, LocalSite, VsphereSite


def site_dns(site: SiteRef) -> DnsIdentity | None:
    """The site's RFC 2136 settings; None for a site without them (an AWS site moves records through Route 53)."""
    return site.config.dns if isinstance(site.config, (LocalSite, VsphereSite)) else None


def record_addresses(site: SiteRef, app: AppRef, reported: Mapping[str, str | None]) -> list[str]:
    """The addresses an app's record points to while the app serves at `site`.

    The site's `dns.addresses` when given (a VIP or load balancer); else 127.0.0.1 for a local site; else, per
    machine, its declared `at.<site>.ip.address`, or the address the provider `reported` for it (the guest IP).
    """
    config = site_dns(site)
    if config is not None and config.addresses:
        return sorted({str(a) for a in config.addresses})
    if isinstance(site.config, LocalSite):
        return ["127.0.0.1"]
    addresses = set()
    for machine in app.machines:
        at = machine.config.at.get(site.name)
        address = str(at.ip.address) if at is not None and at.ip is not None else reported.get(machine.name)
        if not address:
            # Retryable: VMware Tools reports a guest IP some seconds after power-on.
            raise ProviderError(f"no address for machine {machine.name} at site {site.name} yet: declare "
                                f"machines.{machine.name}.at.{site.name}.ip, or wait for its guest IP "
                                f"[site={site.name}, app={app.name}]")
        addresses.add(address)
    return sorted(addresses)


async def move_app_record(site: SiteRef, app: AppRef, reported: Mapping[str, str | None] | None = None,
                          env: Mapping[str, str] = os.environ, poll: float = 0.5) -> str | None:
    """Point the app's endpoint record at its addresses at `site` and wait until answered; None without DNS here.

    None when the site has no `dns` block or the app no endpoint: the provider's own identity move is all there is.
    """
    config, endpoint = site_dns(site), app.config.endpoint
    if config is None or endpoint is None:
        return None
    addresses = record_addresses(site, app, reported or {})
    return await Rfc2136(site.name, config, env, poll).move(endpoint.name, int(endpoint.ttl.total_seconds()),
                                                            addresses)
