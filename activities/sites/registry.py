"""The one list of provider packages, and everything read from it: the provider driving each site, the checks of
`standby doctor`, and the activities a provider adds to the worker.

A provider package exports `PROVIDER`, its description (activities.sites.base.ProviderSpec); adding a provider is
adding its package here and its site model to standby.runbook.Site.
"""

from collections.abc import Iterable
from pathlib import Path

from activities.sites import aws, local, vsphere
from activities.sites.base import Check, PermanentProviderError, ProviderSpec, SiteProvider
from activities.sites.base import ProviderError as ProviderError  # what `standby discover` catches
from standby.contracts.sites import SiteRef, site_ref
from standby.discovery import Discovered, Filters
from standby.runbook import Runbook

PROVIDERS: tuple[ProviderSpec, ...] = (local.PROVIDER, aws.PROVIDER, vsphere.PROVIDER)


class Providers:
    """The providers a worker drives (all of them unless told), found by the model of a site's settings.

    A provider is built per site (per provider of a mixed site) on first use and kept.
    """

    def __init__(self, state_dir: Path, specs: Iterable[ProviderSpec] = PROVIDERS):
        self.state_dir = state_dir
        self.specs = {spec.site_model: spec for spec in specs}
        self.built: dict[tuple[str, str, str], SiteProvider] = {}

    def for_site(self, site: SiteRef) -> SiteProvider:
        """The provider driving `site`."""
        key = (site.runbook, site.name, site.holder)
        if key not in self.built:
            spec = self.specs.get(type(site.config))
            if spec is None:
                have = ", ".join(sorted(s.name for s in self.specs.values()))
                raise PermanentProviderError(f"no provider '{site.config.provider}' on this worker [site={site.name}]; "
                                             f"it has: {have}")
            self.built[key] = spec.factory(site, self.state_dir)
        return self.built[key]

    def activities(self) -> list:
        """The activities the providers add to the worker's own (the Failback Client's, the remediation actions)."""
        return [a for spec in self.specs.values() if spec.activities for a in spec.activities(self, self.state_dir)]


def doctor(runbook: Runbook, sites: list[str] | None = None, specs: Iterable[ProviderSpec] = PROVIDERS) -> list[Check]:
    """Every check of every (or of the named) sites of a runbook, site by site, each by its provider's doctor."""
    by_model = {spec.site_model: spec for spec in specs}
    found: list[Check] = []
    for name in sites or list(runbook.sites):
        site = site_ref(runbook, name)
        try:
            found += by_model[type(site.config)].doctor(site, runbook)
            found += _dns_checks(site)
        except Exception as error:  # a checker that breaks is one failed line, not a crashed doctor
            found.append(Check(name, "checks", False, f"{type(error).__name__}: {error}"))
    return found


def _dns_checks(site: SiteRef) -> list[Check]:
    """The RFC 2136 lines of a site with a `dns` block; dnspython is loaded only for such a site."""
    if getattr(site.config, "dns", None) is None:
        return []
    from activities.dns.doctor import checks

    return checks(site)


def discover(site: SiteRef, filters: Filters, specs: Iterable[ProviderSpec] = PROVIDERS) -> list[Discovered] | None:
    """The machines a site has, by its provider; None for a provider with nothing to list (local).

    Raises ProviderError, its message naming the site and what to fix.
    """
    spec = next(s for s in specs if s.site_model is type(site.config))
    return spec.discover(site, filters) if spec.discover else None
