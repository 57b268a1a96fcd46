"""Which provider holds a machine at a site: the site's own, or at a mixed site the one the machine names.

A mixed site (standby.runbook.MixedSite) holds several providers; its machines name theirs in
`machines.<m>.at.<site>.provider`, and validation makes sure they do. Everything that drives a provider resolves a
site to the provider holding the machine first, so providers only ever see sites of their own kind.
"""

from standby.contracts.sites import SiteRef
from standby.runbook import AwsSite, LocalSite, Machine, MixedSite, Runbook, Site, VsphereSite

SingleSettings = LocalSite | AwsSite | VsphereSite


class NoHolder(ValueError):
    """A machine at a mixed site names no provider of it (a runbook that skipped validation)."""


def holder(site_name: str, site: Site, machine_name: str, machine: Machine) -> tuple[str, SingleSettings]:
    """The provider holding the machine at the site: (its name at a mixed site, or "", and its settings)."""
    if not isinstance(site, MixedSite):
        return "", site
    at = machine.at.get(site_name)
    named = at.provider if at is not None else None
    if named is None or named not in site.providers:
        have = ", ".join(site.providers)
        raise NoHolder(f"machine {machine_name} names no provider of mixed site {site_name} (it has {have}); "
                       f"set machines.{machine_name}.at.{site_name}.provider")
    return named, site.providers[named]


def holder_ref(ref: SiteRef, machine_name: str, machine: Machine) -> SiteRef:
    """The site as the provider holding the machine sees it: the same name, that provider's settings."""
    if not isinstance(ref.config, MixedSite):
        return ref
    named, config = holder(ref.name, ref.config, machine_name, machine)
    return SiteRef(runbook=ref.runbook, name=ref.name, config=config, holder=named)


def label(ref: SiteRef) -> str:
    """`aws`, or at a mixed site `cloud (aws)`: what results and reports say did the work."""
    return f"{ref.holder} ({ref.config.provider})" if ref.holder else ref.config.provider


def machine_label(runbook: Runbook, site: str, machine: str) -> str:
    """The provider holding a machine at a site, as `label` spells it."""
    named, config = holder(site, runbook.sites[site], machine, runbook.machines[machine])
    return f"{named} ({config.provider})" if named else config.provider


def is_mixed(runbook: Runbook) -> bool:
    """Whether some site of the runbook holds several providers."""
    return any(isinstance(site, MixedSite) for site in runbook.sites.values())
