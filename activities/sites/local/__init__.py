"""The local site provider: real processes, real data and real ports on 127.0.0.1."""

from pathlib import Path

from activities.sites.base import Check, ProviderSpec, SiteProvider
from standby.contracts.sites import SiteRef
from standby.runbook import LocalSite, Runbook


def _factory(site: SiteRef, state_dir: Path) -> SiteProvider:
    from activities.sites.local.provider import LocalSiteProvider

    return LocalSiteProvider(site, state_dir)


def _doctor(site: SiteRef, runbook: Runbook) -> list[Check]:
    return [Check(site.name, "local", True, "processes and folders on this host: nothing to reach")]


PROVIDER = ProviderSpec(name="local", site_model=LocalSite, factory=_factory, doctor=_doctor)
